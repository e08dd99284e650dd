// Schema of the delivery outbox database: pending events, dead letters, recently delivered ids.

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
  last_error TEXT`;

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
}
