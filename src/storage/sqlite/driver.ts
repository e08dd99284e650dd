// SQLite StorageDriver (bun:sqlite): WAL + synchronous=FULL, versioned migrations, group-committed writes.
import { Database } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";
import { Gate } from "../gate.ts";
import type { StorageDriver } from "../types.ts";
import type { SqliteContext } from "./context.ts";
import { GroupCommitter, type GroupCommitStats } from "./group-commit.ts";
import { SqliteMediationStore } from "./mediations.ts";
import { SqliteMessageStore } from "./messages.ts";
import { applyMigrations, MIGRATIONS, schemaVersion, type Migration } from "./migrations.ts";
import { SqliteReplayGuard } from "./replay.ts";

/** Write batches this recent are weighed by the storage health check. */
const WRITE_FAILURE_WINDOW_MS = 10_000;

export interface SqliteDriverOptions {
  /** Database file; ":memory:" works for quick tests but has no WAL and no durability. */
  path: string;
  /** Flush once this many writes are queued. Default 512, 1..10000. */
  groupCommitMaxBatch?: number;
  /** Extra wait to gather a batch; 0 (default) flushes after the current macrotask. 0..1000. */
  groupCommitMaxDelayMs?: number;
  /** How long a write waits for another connection's lock. Default 5000, 0..60000. */
  busyTimeoutMs?: number;
  /** Only used to stamp schema_migrations.applied_at_ms and the health probe. */
  clock?: { nowMs(): number };
  /** For tests of the migration runner; defaults to the real schema. */
  migrations?: readonly Migration[];
  /**
   * "full" (default): every commit is fsynced, so a resolved write survives power loss. "off": no fsync at all,
   * only for caches that are thrown away and rebuilt from elsewhere on every open (the cluster's partition
   * caches, rebuilt from the stream): paying an fsync per applied record there buys nothing.
   */
  durability?: "full" | "off";
}

export interface SqliteStorageDriver extends StorageDriver {
  readonly path: string;
  /** Group commit counters (commits < requests under concurrency). */
  stats(): GroupCommitStats;
}

function bounded(value: number | undefined, fallback: number, min: number, max: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new StorageError(StorageErrorCode.InvalidArgument, `${field} must be an integer in ${min}..${max}`);
  }
  return v;
}

function configure(db: Database, path: string, busyTimeoutMs: number, durability: "full" | "off"): void {
  db.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  const mode = db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get()?.journal_mode;
  if (mode !== "wal" && path !== ":memory:") throw new Error(`could not enable WAL (journal_mode=${mode})`);
  // FULL in WAL mode fsyncs the log on every commit: a resolved write survives power loss, not just a crash.
  db.run(durability === "off" ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL");
  db.run("PRAGMA foreign_keys = ON");
}

/** Opens (creating if needed) and migrates the database. Throws StorageError. */
export function openSqliteDriver(options: SqliteDriverOptions): SqliteStorageDriver {
  if (typeof options?.path !== "string" || options.path.length === 0) {
    throw new StorageError(StorageErrorCode.InvalidArgument, "path must be a non-empty string");
  }
  const maxBatch = bounded(options.groupCommitMaxBatch, 512, 1, 10_000, "groupCommitMaxBatch");
  const maxDelayMs = bounded(options.groupCommitMaxDelayMs, 0, 0, 1000, "groupCommitMaxDelayMs");
  const busyTimeoutMs = bounded(options.busyTimeoutMs, 5000, 0, 60_000, "busyTimeoutMs");
  const durability = options.durability ?? "full";
  if (durability !== "full" && durability !== "off") throw new StorageError(StorageErrorCode.InvalidArgument, "durability must be full or off");
  const nowMs = (): number => options.clock?.nowMs() ?? Date.now();
  const path = options.path;

  let db: Database | undefined;
  try {
    db = new Database(path, { create: true, readwrite: true, strict: true });
    configure(db, path, busyTimeoutMs, durability);
    applyMigrations(db, options.migrations ?? MIGRATIONS, nowMs());
  } catch (e) {
    db?.close();
    if (e instanceof StorageError) throw e;
    throw new StorageError(StorageErrorCode.Unavailable, "could not open the SQLite database", { cause: e });
  }
  const conn = db;
  const gate = new Gate();
  // BEGIN IMMEDIATE: take the write lock up front, so a batch never fails half-way on a lock upgrade.
  const tx = conn.transaction((body: () => void) => body());
  const committer = new GroupCommitter((body) => tx.immediate(body), { maxBatch, maxDelayMs });
  const ctx: SqliteContext = { db: conn, committer, gate };
  const probe = conn.prepare<unknown, [number]>(
    "INSERT INTO health_probe (id, checked_at_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms",
  );

  return {
    name: "sqlite",
    path,
    messages: new SqliteMessageStore(ctx),
    mediations: new SqliteMediationStore(ctx),
    replay: new SqliteReplayGuard(ctx),
    stats: () => committer.stats(),
    async health() {
      if (gate.closed) return { ok: false, detail: "closed" };
      try {
        // A real durable write through the same path as enqueue (lock, WAL append, fsync).
        await committer.submit(
          () => {
            probe.run(nowMs());
          },
          { probe: true },
        );
        // More write batches failed than committed recently: not ready, whatever the probe says (small writes can go
        // through while the ones that need space fail). Bounded in time, so a node that no longer gets traffic (a
        // balancer followed its readiness) is tried again; one that still fails is taken out again.
        const recent = committer.recentWrites(WRITE_FAILURE_WINDOW_MS);
        if (recent.failures > 0 && recent.failures >= recent.successes) {
          return { ok: false, detail: `writes are failing (${recent.failures} of the last ${recent.failures + recent.successes} batches): ${recent.lastFailureReason}` };
        }
        const journal = conn.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode;
        const sync = conn.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous;
        return {
          ok: true,
          detail: `journal_mode=${journal} synchronous=${sync === 2 ? "full" : sync === 0 ? "off" : sync} schema=v${schemaVersion(conn)}`,
        };
      } catch (e) {
        const reason = e instanceof StorageError && e.cause instanceof Error ? e.cause.message : String(e);
        return { ok: false, detail: `write check failed: ${reason}` };
      }
    },
    async close() {
      if (gate.closed) return;
      committer.close(); // flush first: everything submitted before close() gets a durable answer
      gate.closed = true;
      try {
        conn.close(true); // finalize our cached statements so the connection (and WAL) is released now
      } catch (e) {
        throw new StorageError(StorageErrorCode.Unavailable, "could not close the SQLite database", { cause: e });
      }
    },
  };
}
