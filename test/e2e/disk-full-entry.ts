// A Haven node entry whose DATA_DIR/haven.sqlite can be stopped from growing at runtime (a full disk as SQLite sees it: SQLITE_FULL), then runs src/main.ts.
// How: bun:sqlite's Database.prototype.run is wrapped to remember every connection to haven.sqlite; on SIGUSR2 the
// entry reads DATA_DIR/disk-full-cap ("full" or "free") and sets `PRAGMA max_page_count` on those connections:
//   full  the database's current page count (no new page can be allocated: every write that needs one fails with
//         SQLITE_FULL "database or disk is full", the error a full disk gives);
//   free  the limit the connection had before (space freed).
// The outcome is written to DATA_DIR/disk-full-cap.applied as JSON, so the test waits for it instead of sleeping.
// src/ is untouched.
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CAP_FILE = "disk-full-cap";
const APPLIED_FILE = "disk-full-cap.applied";
const DB_FILE = "haven.sqlite";

const dataDir = process.env.DATA_DIR;
if (dataDir === undefined || dataDir === "") throw new Error("disk-full-entry: DATA_DIR must be set");

/** Connections to haven.sqlite and the max_page_count each had when first seen (the "free" value). */
const connections = new Map<Database, number>();

const run = Database.prototype.run;
Database.prototype.run = function (this: Database, ...args: Parameters<Database["run"]>) {
  if (!connections.has(this) && (this.filename === join(dataDir, DB_FILE) || this.filename.endsWith(`/${DB_FILE}`))) {
    const max = this.query<{ max_page_count: number }, []>("PRAGMA max_page_count").get()?.max_page_count;
    if (typeof max === "number") connections.set(this, max);
  }
  return run.apply(this, args);
} as Database["run"];

process.on("SIGUSR2", () => {
  const mode = readFileSync(join(dataDir, CAP_FILE), "utf8").trim();
  const applied: { mode: string; connections: { pageCount: number; maxPageCount: number }[]; error?: string } = { mode, connections: [] };
  try {
    if (mode !== "full" && mode !== "free") throw new Error(`unknown mode ${JSON.stringify(mode)}`);
    for (const [db, freeMax] of connections) {
      try {
        const pageCount = db.query<{ page_count: number }, []>("PRAGMA page_count").get()?.page_count ?? 0;
        const want = mode === "full" ? pageCount : freeMax;
        const maxPageCount = db.query<{ max_page_count: number }, []>(`PRAGMA max_page_count = ${want}`).get()?.max_page_count ?? -1;
        applied.connections.push({ pageCount, maxPageCount });
      } catch {
        connections.delete(db); // closed connection
      }
    }
  } catch (e) {
    applied.error = String(e);
  }
  writeFileSync(join(dataDir, APPLIED_FILE), JSON.stringify(applied));
});

await import("../../src/main.ts");
