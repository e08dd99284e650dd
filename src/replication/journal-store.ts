// The accepting node's local journal (its own SQLite file): outbox of unpublished records + recently published ones.
import { Database, type Statement } from "bun:sqlite";
import { StorageError } from "../storage/errors.ts";
import { GroupCommitter } from "../storage/sqlite/group-commit.ts";
import { applyMigrations, type Migration } from "../storage/sqlite/migrations.ts";
import { boundedInt, ReplicationError, ReplicationErrorCode } from "./errors.ts";

/** Append only, like the storage migrations. published_at_ms NULL = still in the outbox. */
export const JOURNAL_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "journal",
    sql: `
      CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        data BLOB NOT NULL,
        accepted_at_ms INTEGER NOT NULL,
        published_at_ms INTEGER,
        stream_seq INTEGER
      );
      CREATE INDEX journal_pending ON journal (seq) WHERE published_at_ms IS NULL;
      CREATE INDEX journal_published ON journal (published_at_ms) WHERE published_at_ms IS NOT NULL;
      CREATE TABLE journal_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
    `,
  },
];

export interface JournalRow {
  seq: number;
  dedupId: string;
  subject: string;
  data: Uint8Array;
  streamSeq: number | null;
}

export interface JournalStoreOptions {
  /** SQLite file, e.g. DATA_DIR/journal.sqlite. */
  path: string;
  /** Group commit batch cap; default 1024, 1..10000. */
  groupCommitMaxBatch?: number;
}

interface RawRow {
  seq: number;
  dedup_id: string;
  subject: string;
  data: Uint8Array;
  stream_seq: number | null;
}

function unavailable(message: string, cause: unknown): ReplicationError {
  return new ReplicationError(ReplicationErrorCode.JournalUnavailable, message, { cause });
}

function toRow(r: RawRow): JournalRow {
  return { seq: r.seq, dedupId: r.dedup_id, subject: r.subject, data: r.data, streamSeq: r.stream_seq };
}

/** Synchronous reads, group-committed writes (one fsync for many accepts). */
export class JournalStore {
  private readonly db: Database;
  private readonly committer: GroupCommitter;
  private closed = false;
  private readonly ins: Statement<{ seq: number }, [string, string, Uint8Array, number]>;
  private readonly mark: Statement<unknown, [number, number, number]>;
  private readonly selPending: Statement<RawRow, [number, number]>;
  private readonly selRetained: Statement<RawRow, [number, number]>;
  private readonly prune: Statement<unknown, [number, number]>;
  private readonly selPendingSeqs: Statement<{ seq: number; at: number }, []>;
  private readonly countAll: Statement<{ n: number }, []>;
  private readonly maxStreamSeq: Statement<{ m: number | null }, []>;
  private readonly selNewestPublished: Statement<{ stream_seq: number; dedup_id: string }, [number]>;
  private readonly getMeta: Statement<{ value: string }, [string]>;
  private readonly putMeta: Statement<unknown, [string, string]>;

  constructor(options: JournalStoreOptions, nowMs: number) {
    if (typeof options?.path !== "string" || options.path.length === 0) {
      throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "journal path must be a non-empty string");
    }
    const maxBatch = boundedInt(options.groupCommitMaxBatch, 1024, 1, 10_000, "groupCommitMaxBatch");
    let db: Database | undefined;
    try {
      db = new Database(options.path, { create: true, readwrite: true, strict: true });
      db.run("PRAGMA busy_timeout = 5000");
      db.run("PRAGMA journal_mode = WAL");
      // FULL: an accept answered "journaled" survives power loss, not just a process crash.
      db.run("PRAGMA synchronous = FULL");
      applyMigrations(db, JOURNAL_MIGRATIONS, nowMs);
    } catch (e) {
      db?.close();
      throw unavailable("could not open the journal database", e);
    }
    this.db = db;
    const tx = db.transaction((body: () => void) => body());
    this.committer = new GroupCommitter((body) => tx.immediate(body), { maxBatch, maxDelayMs: 0 });
    this.ins = db.prepare(
      "INSERT INTO journal (dedup_id, subject, data, accepted_at_ms) VALUES (?, ?, ?, ?) RETURNING seq",
    );
    this.mark = db.prepare("UPDATE journal SET published_at_ms = ?, stream_seq = ? WHERE seq = ?");
    const cols = "seq, dedup_id, subject, data, stream_seq";
    this.selPending = db.prepare(
      `SELECT ${cols} FROM journal WHERE published_at_ms IS NULL AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.selRetained = db.prepare(
      `SELECT ${cols} FROM journal WHERE published_at_ms IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.prune = db.prepare(
      `DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE published_at_ms IS NOT NULL AND published_at_ms <= ? ORDER BY published_at_ms LIMIT ?)`,
    );
    this.selPendingSeqs = db.prepare("SELECT seq, accepted_at_ms AS at FROM journal WHERE published_at_ms IS NULL ORDER BY seq");
    this.countAll = db.prepare("SELECT COUNT(*) AS n FROM journal");
    this.maxStreamSeq = db.prepare("SELECT MAX(stream_seq) AS m FROM journal WHERE published_at_ms IS NOT NULL");
    // Newest published rows first, walking the primary key backwards (publish order ~ journal order).
    this.selNewestPublished = db.prepare(
      "SELECT stream_seq, dedup_id FROM journal WHERE published_at_ms IS NOT NULL AND stream_seq IS NOT NULL ORDER BY seq DESC LIMIT ?",
    );
    this.getMeta = db.prepare("SELECT value FROM journal_meta WHERE key = ?");
    this.putMeta = db.prepare(
      "INSERT INTO journal_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
  }

  /** Durable once resolved; resolves the journal seq (insertion order = relay order). */
  append(dedupId: string, subject: string, data: Uint8Array, acceptedAtMs: number): Promise<number> {
    return this.submit(() => this.ins.get(dedupId, subject, data, acceptedAtMs)!.seq);
  }

  /** Records the PubAck; rides along in the next group commit. */
  markPublished(seq: number, streamSeq: number, publishedAtMs: number): Promise<void> {
    return this.submit(() => {
      this.mark.run(publishedAtMs, streamSeq, seq);
    });
  }

  /** Drops published entries older than the cutoff, oldest first, at most `limit`. Resolves the count. */
  pruneOlderThan(cutoffMs: number, limit: number): Promise<number> {
    return this.submit(() => this.prune.run(cutoffMs, limit).changes);
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.submit(() => {
      this.putMeta.run(key, value);
    });
  }

  pending(afterSeq: number, limit: number): JournalRow[] {
    return this.read(() => this.selPending.all(afterSeq, limit).map(toRow));
  }

  retained(afterSeq: number, limit: number): JournalRow[] {
    return this.read(() => this.selRetained.all(afterSeq, limit).map(toRow));
  }

  /** Every outbox seq (bounded by maxJournalEntries): loaded once at open. */
  pendingSeqs(): number[] {
    return this.pendingEntries().map((r) => r.seq);
  }

  /** Every outbox seq with the time it was accepted (for the replication-lag gauge): loaded once at open. */
  pendingEntries(): { seq: number; acceptedAtMs: number }[] {
    return this.read(() => this.selPendingSeqs.all().map((r) => ({ seq: r.seq, acceptedAtMs: r.at })));
  }

  size(): number {
    return this.read(() => this.countAll.get()!.n);
  }

  /** The newest `limit` published rows (stream seq and Nats-Msg-Id), newest first: what a loss probe checks. */
  newestPublished(limit: number): { streamSeq: number; dedupId: string }[] {
    return this.read(() => this.selNewestPublished.all(limit).map((r) => ({ streamSeq: r.stream_seq, dedupId: r.dedup_id })));
  }

  highestStreamSeq(): number {
    return this.read(() => this.maxStreamSeq.get()?.m ?? 0);
  }

  meta(key: string): string | undefined {
    return this.read(() => this.getMeta.get(key)?.value);
  }

  close(): void {
    if (this.closed) return;
    this.committer.close(); // everything submitted before close() gets a durable answer
    this.closed = true;
    this.db.close(true);
  }

  private read<T>(body: () => T): T {
    if (this.closed) throw new ReplicationError(ReplicationErrorCode.Closed, "journal is closed");
    try {
      return body();
    } catch (e) {
      throw unavailable("journal read failed", e);
    }
  }

  private submit<T>(op: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new ReplicationError(ReplicationErrorCode.Closed, "journal is closed"));
    return this.committer.submit(op).catch((e: unknown) => {
      throw e instanceof StorageError ? unavailable("journal write failed", e) : e;
    });
  }
}
