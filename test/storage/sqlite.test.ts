// SQLite driver: the shared conformance suite plus durability, migrations, group commit and failure handling.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, applyMigrations, openSqliteDriver, StorageError } from "../../src/storage/index.ts";
import type { SqliteStorageDriver } from "../../src/storage/index.ts";
import { rejectsWith, req, storageConformance } from "./conformance.ts";
import { Rng, seedFromEnv } from "../support/random.ts";

const dir = mkdtempSync(join(tmpdir(), "haven-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const freshPath = (): string => join(dir, `t${++fileNo}.db`);
const BIG = { maxCount: 1_000_000, maxBytes: 1 << 30 };

storageConformance("sqlite", () => openSqliteDriver({ path: freshPath() }));

describe("sqlite driver", () => {
  it("keeps every write across close and reopen", async () => {
    const path = freshPath();
    let d = openSqliteDriver({ path });
    const r = req({ expiresAtMs: 777 });
    await d.messages.enqueue(r, BIG);
    await d.mediations.grant({ clientDid: "did:c:1", routingDid: "did:r", grantedAtMs: 3 });
    await d.mediations.addKey("did:c:1", "did:key:1");
    expect(await d.replay.checkAndRecord("did:s", "m1", 10, 1000)).toBe(true);
    const listed = await d.messages.list(r.mailbox, { limit: 10 });
    await d.close();

    d = openSqliteDriver({ path });
    expect(await d.messages.list(r.mailbox, { limit: 10 })).toEqual(listed);
    expect(await d.messages.stats(r.mailbox)).toMatchObject({ count: 1, totalBytes: r.payload.byteLength });
    expect(await d.mediations.get("did:c:1")).toEqual({ clientDid: "did:c:1", routingDid: "did:r", grantedAtMs: 3 });
    expect(await d.mediations.ownerOf("did:key:1")).toBe("did:c:1");
    expect(await d.replay.checkAndRecord("did:s", "m1", 20, 1000)).toBe(false);
    expect(await d.messages.enqueue(req({ dedupKey: r.dedupKey }), BIG)).toEqual({ status: "duplicate", id: r.id });
    await d.close();
  });

  it("runs in WAL mode with synchronous=FULL and reports it from health()", async () => {
    const d = openSqliteDriver({ path: freshPath() });
    const h = await d.health();
    expect(h.ok).toBe(true);
    expect(h.detail).toContain("journal_mode=wal");
    expect(h.detail).toContain("synchronous=full");
    await d.close();
  });

  it("durability off (rebuildable caches only): synchronous=OFF, still WAL and working", async () => {
    const d = openSqliteDriver({ path: freshPath(), durability: "off" });
    const h = await d.health();
    expect(h.ok).toBe(true);
    expect(h.detail).toContain("journal_mode=wal");
    expect(h.detail).toContain("synchronous=off");
    await d.close();
    expect(() => openSqliteDriver({ path: freshPath(), durability: "sometimes" as "off" })).toThrow(StorageError);
  });

  it("rejects out-of-range options", () => {
    for (const bad of [{ groupCommitMaxBatch: 0 }, { groupCommitMaxDelayMs: -1 }, { busyTimeoutMs: 1.5 }, { path: "" }]) {
      expect(() => openSqliteDriver({ path: freshPath(), ...bad })).toThrow(StorageError);
    }
  });

  describe("migrations", () => {
    // The next version after the real schema, whatever that is.
    const NEXT = MIGRATIONS.length + 1;
    const v2 = { version: NEXT, name: "add notes", sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)" };
    const applied = (at: number) => MIGRATIONS.map((m) => ({ version: m.version, applied_at_ms: at }));

    it("applies each version once and keeps the first applied_at_ms", async () => {
      const path = freshPath();
      (await openSqliteDriver({ path, clock: { nowMs: () => 111 } }).close());
      (await openSqliteDriver({ path, clock: { nowMs: () => 222 } }).close());
      const db = new Database(path);
      expect(db.query("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version").all()).toEqual(applied(111));
      expect(applyMigrations(db, MIGRATIONS, 333)).toEqual([]);
      expect(applyMigrations(db, [...MIGRATIONS, v2], 444)).toEqual([NEXT]);
      expect(applyMigrations(db, [...MIGRATIONS, v2], 555)).toEqual([]);
      expect(db.query("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version").all()).toEqual([
        ...applied(111),
        { version: NEXT, applied_at_ms: 444 },
      ]);
      db.close();
      // Opening with the newer schema list works; the old list now refuses a schema it does not know.
      (await openSqliteDriver({ path, migrations: [...MIGRATIONS, v2] }).close());
      const err = (() => {
        try {
          openSqliteDriver({ path });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("schema_too_new");
    });

    it("rolls back a failing migration entirely", async () => {
      const path = freshPath();
      const bad = { version: NEXT, name: "half broken", sql: "CREATE TABLE fine (x); CREATE TABLE broken (" };
      (await openSqliteDriver({ path }).close());
      expect(() => openSqliteDriver({ path, migrations: [...MIGRATIONS, bad] })).toThrow(StorageError);
      const db = new Database(path);
      expect(db.query("SELECT MAX(version) AS v FROM schema_migrations").get()).toEqual({ v: MIGRATIONS.length });
      expect(db.query("SELECT name FROM sqlite_master WHERE name = 'fine'").all()).toEqual([]);
      db.close();
    });

    it("rejects a migration list with gaps", () => {
      const db = new Database(":memory:");
      expect(() => applyMigrations(db, [...MIGRATIONS, { ...v2, version: NEXT + 1 }], 0)).toThrow();
      db.close();
    });
  });

  describe("group commit", () => {
    it("commits many concurrent enqueues in fewer transactions than requests", async () => {
      const d = openSqliteDriver({ path: freshPath() });
      const results = await Promise.all(Array.from({ length: 100 }, () => d.messages.enqueue(req(), BIG)));
      expect(results.every((r) => r.status === "stored")).toBe(true);
      const s = d.stats();
      expect(s.ops).toBe(100);
      expect(s.commits).toBeLessThan(100);
      expect(s.commits).toBe(1); // all 100 were queued before the flush ran
      await d.close();
    });

    it("splits at groupCommitMaxBatch", async () => {
      const d = openSqliteDriver({ path: freshPath(), groupCommitMaxBatch: 10 });
      await Promise.all(Array.from({ length: 95 }, () => d.messages.enqueue(req(), BIG)));
      expect(d.stats()).toMatchObject({ commits: 10, ops: 95, maxBatchOps: 10, failedCommits: 0, pending: 0 });
      await d.close();
    });

    it("answers delayed writes at close without waiting for groupCommitMaxDelayMs", async () => {
      const d = openSqliteDriver({ path: freshPath(), groupCommitMaxDelayMs: 1000 });
      const pending = [d.messages.enqueue(req(), BIG), d.messages.enqueue(req(), BIG)];
      expect(d.stats()).toMatchObject({ commits: 0, pending: 2 });
      await d.close();
      expect((await Promise.all(pending)).map((r) => r.status)).toEqual(["stored", "stored"]);
      expect(d.stats()).toMatchObject({ commits: 1, ops: 2, pending: 0 });
    });

    it("rejects a whole failed batch as retryable and applies none of it", async () => {
      const path = freshPath();
      const d = openSqliteDriver({ path });
      const other = new Database(path);
      // A second connection installs a trigger that aborts one insert in the middle of the batch.
      other.run("CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
      const a = req();
      const c = req();
      const settled = await Promise.allSettled([
        d.messages.enqueue(a, BIG),
        d.mediations.grant({ clientDid: "did:c:1", routingDid: "did:r", grantedAtMs: 1 }),
        d.messages.enqueue(req({ id: "boom" }), BIG),
        d.messages.enqueue(c, BIG),
      ]);
      for (const s of settled) {
        expect(s.status).toBe("rejected");
        const e = (s as PromiseRejectedResult).reason as StorageError;
        expect(e).toBeInstanceOf(StorageError);
        expect(e.code).toBe("unavailable");
        expect(e.retryable).toBe(true);
      }
      expect(d.stats()).toMatchObject({ failedCommits: 1, commits: 0 });
      expect(await d.messages.stats(a.mailbox)).toMatchObject({ count: 0, totalBytes: 0 });
      expect(await d.messages.list(a.mailbox, { limit: 10 })).toEqual([]);
      expect(await d.mediations.get("did:c:1")).toBeUndefined();
      // The health probe's own write still succeeds (it touches another table, as a full disk spares an in-place
      // rewrite), yet health reports the failing writes until more batches have committed than failed.
      const h = await d.health();
      expect(h).toMatchObject({ ok: false });
      expect(h.detail).toContain("writes are failing");
      // Retrying after the fault clears succeeds.
      other.run("DROP TRIGGER boom");
      expect(await d.messages.enqueue(a, BIG)).toEqual({ status: "stored", id: a.id });
      expect((await d.health()).ok).toBe(false); // one success against one failure: not yet
      expect(await d.messages.enqueue(c, BIG)).toEqual({ status: "stored", id: c.id });
      expect((await d.health()).ok).toBe(true);
      other.close();
      await d.close();
    });

    it("fails fast and retryably while another connection holds the write lock", async () => {
      const path = freshPath();
      const d = openSqliteDriver({ path, busyTimeoutMs: 0 });
      const other = new Database(path);
      other.run("BEGIN IMMEDIATE");
      const r = req();
      const err = await rejectsWith(d.messages.enqueue(r, BIG), "unavailable");
      expect(err.retryable).toBe(true);
      expect((await d.health()).ok).toBe(false);
      other.run("ROLLBACK");
      expect(await d.messages.enqueue(r, BIG)).toEqual({ status: "stored", id: r.id });
      expect(await d.messages.enqueue(req(), BIG)).toMatchObject({ status: "stored" });
      expect((await d.health()).ok).toBe(true);
      other.close();
      await d.close();
    });
  });

  it("keeps mailbox_usage equal to the messages table", async () => {
    const path = freshPath();
    const d: SqliteStorageDriver = openSqliteDriver({ path });
    const reqs = Array.from({ length: 50 }, (_, i) => req({ mailbox: `did:u:${i % 3}`, expiresAtMs: i }));
    await Promise.all(reqs.map((r) => d.messages.enqueue(r, BIG)));
    expect(await d.messages.expire(20, 1000)).toBe(21);
    // Removes in the same batch: one partial (with an unknown id and a repeat), one that empties a mailbox.
    const box1 = reqs.filter((r) => r.mailbox === "did:u:1" && r.expiresAtMs! > 20).map((r) => r.id);
    const box2 = reqs.filter((r) => r.mailbox === "did:u:2" && r.expiresAtMs! > 20).map((r) => r.id);
    const removed = await Promise.all([
      d.messages.remove("did:u:1", [box1[0]!, box1[0]!, "unknown", box1[1]!]),
      d.messages.remove("did:u:2", box2),
    ]);
    expect(removed).toEqual([2, box2.length]);
    expect(await d.messages.stats("did:u:2")).toMatchObject({ count: 0, totalBytes: 0 });
    await d.close();
    expectUsageConsistent(path);
    const db = new Database(path, { readonly: true });
    expect(db.query("SELECT COUNT(*) AS n FROM mailbox_usage WHERE count <= 0").get()).toEqual({ n: 0 }); // no empty rows
    db.close();
  });

  it("keeps mailbox_usage exact under random batches mixing inserts, quota refusals, removals and expiry, with cache evictions", async () => {
    // Expected: usage is written once per mailbox per batch, from counters that outlive cache evictions; whatever
    // the mix within a batch, the table equals a recount, and quotas count exactly.
    const seed = seedFromEnv();
    console.log(`usage batch test: SEED=${seed}`);
    const rng = new Rng(seed);
    const path = freshPath();
    const d: SqliteStorageDriver = openSqliteDriver({ path });
    // 3,000-char DIDs: the usage cache (512 Ki chars) holds ~170 of these 300 mailboxes, so entries are evicted.
    const boxes = Array.from({ length: 300 }, (_, i) => `did:u:${i}:`.padEnd(3000, "x"));
    const quota = { maxCount: 6, maxBytes: 1 << 30 };
    const stored = new Map<string, string[]>();
    for (let round = 0; round < 15; round++) {
      const ops: Promise<unknown>[] = [];
      // 400 ops in one batch touch more mailboxes than the cache holds: a mailbox's entry can be evicted and used again.
      for (let k = 0; k < 400; k++) {
        const mailbox = rng.pick(boxes);
        // Every other round inserts only: no delete flushes the batch's counters half-way.
        const kind = round % 2 === 0 ? 0 : rng.int(10);
        if (kind < 7) {
          const r = req({ mailbox, expiresAtMs: rng.bool(0.2) ? round : null });
          ops.push(d.messages.enqueue(r, quota).then((res) => {
            if (res.status === "stored") stored.set(mailbox, [...(stored.get(mailbox) ?? []), r.id]);
          }));
        } else if (kind < 9) {
          const ids = stored.get(mailbox) ?? [];
          ops.push(d.messages.remove(mailbox, ids.slice(0, rng.int(3) + 1)));
        } else ops.push(d.messages.expire(round, 50));
      }
      await Promise.all(ops); // one or a few batches, each mixing the kinds
      for (const mailbox of boxes.slice(0, 20)) {
        const left = await d.messages.list(mailbox, { limit: 1000 });
        stored.set(mailbox, left.map((m) => m.id));
        expect((await d.messages.stats(mailbox)).count).toBe(left.length);
        expect(left.length).toBeLessThanOrEqual(quota.maxCount);
      }
    }
    await d.close();
    expectUsageConsistent(path);
  });
});

/** The driver-maintained counters must match a full recount. */
function expectUsageConsistent(path: string): void {
  const db = new Database(path, { readonly: true });
  const recount = db
    .query("SELECT mailbox_id, COUNT(*) AS count, SUM(size_bytes) AS bytes FROM messages GROUP BY mailbox_id ORDER BY mailbox_id")
    .all();
  expect(db.query("SELECT mailbox_id, count, bytes FROM mailbox_usage ORDER BY mailbox_id").all()).toEqual(recount);
  // Every message names interned DIDs.
  expect(
    db.query("SELECT COUNT(*) AS n FROM messages WHERE mailbox_id NOT IN (SELECT did_id FROM dids) OR recipient_id NOT IN (SELECT did_id FROM dids)").get(),
  ).toEqual({ n: 0 });
  expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
  db.close();
}

describe("sqlite crash durability", () => {
  it("keeps every acknowledged enqueue exactly once after kill -9", async () => {
    const path = freshPath();
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "crash-writer.ts"), path], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const KILL_AFTER_ACKS = 2000;
    const decoder = new TextDecoder();
    let text = "";
    let killed = false;
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      if (!killed && text.split("\n").length - 1 >= KILL_AFTER_ACKS) {
        child.kill(9); // mid-run: the writer loops never stop on their own before MAX_ACKS
        killed = true;
      }
    }
    await child.exited;
    if (!killed) throw new Error(`child exited before ${KILL_AFTER_ACKS} acks: ${await new Response(child.stderr).text()}`);
    expect(child.signalCode).toBe("SIGKILL");
    const acked = text.split("\n").slice(0, -1); // drop a possibly partial last line
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(new Set(acked).size).toBe(acked.length);

    // Reopening runs WAL recovery and the migration check; the driver must come up cleanly.
    const d = openSqliteDriver({ path });
    expect((await d.health()).ok).toBe(true);
    await d.close();

    const db = new Database(path, { readonly: true });
    const get = db.query<{ n: number; payload: Uint8Array | null }, [string]>(
      "SELECT COUNT(*) AS n, MAX(payload) AS payload FROM messages WHERE id = ?",
    );
    const enc = new TextEncoder();
    for (const id of acked) {
      const row = get.get(id)!;
      expect(row.n, id).toBe(1);
      expect(row.payload, id).toEqual(enc.encode(`{"id":"${id}","pad":"${"x".repeat(64)}"}`));
    }
    const total = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM messages").get()!.n;
    expect(total).toBeGreaterThanOrEqual(acked.length); // committed-but-unacknowledged writes may exist too
    db.close();
    expectUsageConsistent(path);
  });
});
