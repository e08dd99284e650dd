// The raw ingest ceiling for bench-ingest: a bare Bun.serve POST that inserts one row into SQLite (WAL).
// Run as its own process: `bun scripts/lib/ceiling-server.ts <port> <dbPath> [full|normal]`; prints "READY <port>".
// full (default): synchronous=FULL, every acknowledged row is on disk (Haven's durability). normal: synchronous=NORMAL,
// commits are not fsynced (a power loss can lose acknowledged rows): the bound without the disk, for reference.
import { Database } from "bun:sqlite";

const MAX_BODY_BYTES = 1024 * 1024;
const port = Number(process.argv[2]);
const dbPath = process.argv[3];
const sync = process.argv[4] ?? "full";
if (!Number.isInteger(port) || port < 1 || port > 65535 || !dbPath || (sync !== "full" && sync !== "normal")) {
  console.error("usage: ceiling-server.ts <port> <dbPath> [full|normal]");
  process.exit(2);
}

const db = new Database(dbPath, { create: true });
db.run("PRAGMA journal_mode = WAL");
db.run(sync === "full" ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
db.run("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, payload BLOB NOT NULL)");
const insert = db.prepare("INSERT INTO messages (received_at, payload) VALUES (?, ?)");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  maxRequestBodySize: MAX_BODY_BYTES,
  async fetch(req) {
    if (req.method !== "POST") return new Response(null, { status: 405 });
    const body = new Uint8Array(await req.arrayBuffer());
    insert.run(Date.now(), body); // one row, one autocommit transaction
    return new Response(null, { status: 202 });
  },
});
console.log(`READY ${server.port}`);
const stop = () => {
  server.stop(true);
  db.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
