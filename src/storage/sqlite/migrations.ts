// Versioned schema migrations for the SQLite driver: each version applied once, in order, inside one transaction.
import type { Database } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Append only: never edit a released migration, add a new version instead. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
      CREATE TABLE messages (
        id TEXT PRIMARY KEY NOT NULL,
        mailbox TEXT NOT NULL,
        recipient_did TEXT NOT NULL,
        payload BLOB NOT NULL,
        size_bytes INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER,
        dedup_key TEXT NOT NULL,
        UNIQUE (mailbox, dedup_key)
      );
      -- rowid (implicit in every index) is the arrival-order tie-break for equal timestamps.
      CREATE INDEX messages_by_mailbox ON messages (mailbox, received_at_ms);
      CREATE INDEX messages_by_recipient ON messages (mailbox, recipient_did, received_at_ms);
      CREATE INDEX messages_by_expiry ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;

      -- O(1) quota checks; kept exact by triggers whatever path inserts or deletes a message.
      CREATE TABLE mailbox_usage (
        mailbox TEXT PRIMARY KEY NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL
      );
      CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages BEGIN
        INSERT INTO mailbox_usage (mailbox, count, bytes) VALUES (NEW.mailbox, 1, NEW.size_bytes)
        ON CONFLICT (mailbox) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes;
      END;
      CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages BEGIN
        UPDATE mailbox_usage SET count = count - 1, bytes = bytes - OLD.size_bytes WHERE mailbox = OLD.mailbox;
        DELETE FROM mailbox_usage WHERE mailbox = OLD.mailbox AND count = 0;
      END;

      CREATE TABLE mediations (
        client_did TEXT PRIMARY KEY NOT NULL,
        routing_did TEXT NOT NULL,
        granted_at_ms INTEGER NOT NULL
      );
      CREATE TABLE keys (
        recipient_did TEXT PRIMARY KEY NOT NULL,
        client_did TEXT NOT NULL REFERENCES mediations (client_did) ON DELETE CASCADE
      );
      CREATE INDEX keys_by_client ON keys (client_did, recipient_did);

      CREATE TABLE replay (
        sender TEXT NOT NULL,
        message_id TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        PRIMARY KEY (sender, message_id)
      );
      CREATE INDEX replay_by_expiry ON replay (expires_at_ms);

      -- health() rewrites this single row to prove the database accepts durable writes.
      CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at_ms INTEGER NOT NULL);
    `,
  },
  {
    version: 2,
    name: "integer-keyed message indexes (interned DIDs)",
    // DIDs run to ~600 chars (did:peer:2), and v1 keyed every message index by them: index pages held a handful of
    // entries and each group commit dirtied many pages. v2 stores each DID once in `dids` and keys the message
    // indexes and the quota counters by its integer id. Rowids are kept, so arrival order (the tie-break for equal
    // timestamps) survives the copy.
    sql: `
      CREATE TABLE dids (
        did_id INTEGER PRIMARY KEY,
        did TEXT NOT NULL UNIQUE
      );
      INSERT INTO dids (did) SELECT mailbox FROM messages UNION SELECT recipient_did FROM messages;

      CREATE TABLE messages_v2 (
        id TEXT PRIMARY KEY NOT NULL,
        mailbox_id INTEGER NOT NULL,
        recipient_id INTEGER NOT NULL,
        payload BLOB NOT NULL,
        size_bytes INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER,
        dedup_key TEXT NOT NULL,
        UNIQUE (mailbox_id, dedup_key)
      );
      INSERT INTO messages_v2 (rowid, id, mailbox_id, recipient_id, payload, size_bytes, received_at_ms, expires_at_ms, dedup_key)
        SELECT m.rowid, m.id, mb.did_id, rc.did_id, m.payload, m.size_bytes, m.received_at_ms, m.expires_at_ms, m.dedup_key
        FROM messages m JOIN dids mb ON mb.did = m.mailbox JOIN dids rc ON rc.did = m.recipient_did
        ORDER BY m.rowid;
      DROP TABLE messages; -- with its indexes and usage triggers
      DROP TABLE mailbox_usage;
      ALTER TABLE messages_v2 RENAME TO messages;
      CREATE INDEX messages_by_mailbox ON messages (mailbox_id, received_at_ms);
      CREATE INDEX messages_by_recipient ON messages (mailbox_id, recipient_id, received_at_ms);
      CREATE INDEX messages_by_expiry ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;

      -- Small integer-keyed rows: the counters of every active mailbox share a page or two.
      CREATE TABLE mailbox_usage (
        mailbox_id INTEGER PRIMARY KEY NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL
      );
      INSERT INTO mailbox_usage (mailbox_id, count, bytes)
        SELECT mailbox_id, COUNT(*), SUM(size_bytes) FROM messages GROUP BY mailbox_id;
      -- Inserts are counted by this trigger. Deletes are counted by the driver, once per statement and mailbox from
      -- the statement's RETURNING rows (remove, expire: the only deletes), in the same transaction: a per-row delete
      -- trigger was a third of the cost of a 1000-message pickup.
      CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages BEGIN
        INSERT INTO mailbox_usage (mailbox_id, count, bytes) VALUES (NEW.mailbox_id, 1, NEW.size_bytes)
        ON CONFLICT (mailbox_id) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes;
      END;
    `,
  },
  {
    version: 3,
    name: "dedup keys indexed in memory",
    // Dedup keys are hashes: the UNIQUE (mailbox_id, dedup_key) index put every insert on a random leaf page, so a group
    // commit of N forwards wrote ~N extra pages to the WAL (about half the CPU of an enqueue). The driver now keeps
    // (mailbox_id, dedup_key) -> rowid in memory (dedup-index.ts, loaded at open) and finds duplicates there; the
    // column stays, for that load and for confirming candidates. Same copy-and-rename as v2; rowids are kept.
    // The two mailbox indexes become one (below).
    sql: `
      CREATE TABLE messages_v3 (
        id TEXT PRIMARY KEY NOT NULL,
        mailbox_id INTEGER NOT NULL,
        recipient_id INTEGER NOT NULL,
        payload BLOB NOT NULL,
        size_bytes INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER,
        dedup_key TEXT NOT NULL
      );
      INSERT INTO messages_v3 (rowid, id, mailbox_id, recipient_id, payload, size_bytes, received_at_ms, expires_at_ms, dedup_key)
        SELECT rowid, id, mailbox_id, recipient_id, payload, size_bytes, received_at_ms, expires_at_ms, dedup_key
        FROM messages ORDER BY rowid;
      DROP TABLE messages; -- with its indexes and the usage trigger
      ALTER TABLE messages_v3 RENAME TO messages;
      -- One index serves both listings, in arrival order (received_at_ms, then rowid: the index order): a
      -- recipient-filtered listing walks the mailbox's entries and checks each row's recipient_id. v2's separate
      -- (mailbox_id, recipient_id, received_at_ms) index cost every insert another page write (~10% of an enqueue)
      -- for the rarer filtered pickup, whose walk is bounded by the mailbox quota.
      CREATE INDEX messages_by_mailbox ON messages (mailbox_id, received_at_ms);
      CREATE INDEX messages_by_expiry ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
      -- No insert trigger any more: the driver writes each mailbox's usage once per write batch (an upsert per row
      -- was ~10% of an enqueue), from the same in-memory counters the quota check reads.
    `,
  },
];

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list invariant: expected version ${i + 1}, got ${m.version}`);
  });
}

/**
 * Brings the schema up to the last migration; returns the versions applied now (empty when up to date).
 * Runs under BEGIN IMMEDIATE so two processes opening the same file cannot both apply a version.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[], nowMs: number): number[] {
  assertOrdered(migrations);
  db.run(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_at_ms INTEGER NOT NULL)",
  );
  const run = db.transaction((): number[] => {
    const row = db.query<{ v: number | null }, []>("SELECT MAX(version) AS v FROM schema_migrations").get();
    const current = row?.v ?? 0;
    if (current > migrations.length) {
      throw new StorageError(
        StorageErrorCode.SchemaTooNew,
        `database schema version ${current} is newer than this code (${migrations.length})`,
      );
    }
    const applied: number[] = [];
    for (const m of migrations.slice(current)) {
      db.run(m.sql);
      db.run("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?, ?)", [m.version, nowMs]);
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}

/** The highest applied version (0 for an empty database). */
export function schemaVersion(db: Database): number {
  return db.query<{ v: number | null }, []>("SELECT MAX(version) AS v FROM schema_migrations").get()?.v ?? 0;
}
