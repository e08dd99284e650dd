// Schema of the delivery outbox database: pending events, dead letters, recently delivered ids; and its additive migrations.
import type { Database } from "bun:sqlite";

const EVENT_COLUMNS = `
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  partition INTEGER NOT NULL,
  url TEXT NOT NULL,
  destination TEXT NOT NULL,
  body BLOB NOT NULL,
  content_type TEXT NOT NULL,
  signing_ref TEXT,
  attempts INTEGER NOT NULL,
  next_at_ms INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  last_error TEXT,
  traceparent TEXT`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (${EVENT_COLUMNS}, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS events_due ON events (next_at_ms);
CREATE TABLE IF NOT EXISTS dlq (seq INTEGER PRIMARY KEY AUTOINCREMENT, ${EVENT_COLUMNS}, reason TEXT NOT NULL, dead_at_ms INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS dlq_id ON dlq (id);
CREATE TABLE IF NOT EXISTS delivered (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivered_at ON delivered (at_ms);
`;

export interface Row {
  id: string;
  kind: string;
  mailbox: string;
  partition: number;
  url: string;
  destination: string;
  body: Uint8Array;
  content_type: string;
  signing_ref: string | null;
  attempts: number;
  next_at_ms: number;
  created_at_ms: number;
  last_error: string | null;
  /** Added by migration 1; null for rows written before it (and for events queued outside a trace). */
  traceparent: string | null;
}

/**
 * Columns added after the first release, per table. A database created before them gets each one as a nullable
 * column (ALTER TABLE ... ADD COLUMN is cheap in SQLite: old rows read NULL without being rewritten).
 */
const ADDED_COLUMNS: readonly { table: "events" | "dlq"; column: string; type: string }[] = [
  { table: "events", column: "traceparent", type: "TEXT" },
  { table: "dlq", column: "traceparent", type: "TEXT" },
];

/** Brings an existing database up to SCHEMA (run after it, in one transaction); a no-op on a new one. */
export function migrate(db: Database): void {
  db.transaction(() => {
    for (const a of ADDED_COLUMNS) {
      const cols = db.query<{ name: string }, []>(`PRAGMA table_info(${a.table})`).all();
      if (!cols.some((c) => c.name === a.column)) db.run(`ALTER TABLE ${a.table} ADD COLUMN ${a.column} ${a.type}`);
    }
  })();
}
