// SQLite driver's write-through caches (quota usage, key owners): exact after rollbacks, expiry and removals.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteDriver } from "../../src/storage/index.ts";
import { MIGRATIONS, applyMigrations } from "../../src/storage/index.ts";
import { BoundedCache } from "../../src/storage/sqlite/bounded-cache.ts";
import { DidIds } from "../../src/storage/sqlite/did-ids.ts";
import { GroupCommitter } from "../../src/storage/sqlite/group-commit.ts";
import { req } from "./conformance.ts";

const dir = mkdtempSync(join(tmpdir(), "haven-sqlite-caches-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const freshPath = (): string => join(dir, `c${++fileNo}.db`);
const ONE = { maxCount: 1, maxBytes: 1 << 30 };

/** Another connection makes inserts of id 'boom' abort, so a whole batch rolls back. */
function installBoom(path: string): Database {
  const other = new Database(path);
  other.run("CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
  return other;
}

describe("sqlite write-through caches", () => {
  it("forgets usage counted by a rolled-back batch", async () => {
    const path = freshPath();
    const d = openSqliteDriver({ path });
    const other = installBoom(path);
    const a = req({ mailbox: "did:m:1" });
    const settled = await Promise.allSettled([d.messages.enqueue(a, ONE), d.messages.enqueue(req({ id: "boom" }), ONE)]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    // Had the cache kept the rolled-back insert, a quota of one would now refuse this message.
    const b = req({ mailbox: "did:m:1" });
    expect(await d.messages.enqueue(b, ONE)).toEqual({ status: "stored", id: b.id });
    other.close();
    await d.close();
  });

  it("forgets a key owner added by a rolled-back batch", async () => {
    const path = freshPath();
    const d = openSqliteDriver({ path });
    await d.mediations.grant({ clientDid: "did:c:1", routingDid: "did:r", grantedAtMs: 1 });
    expect(await d.mediations.ownerOf("did:key:1")).toBeUndefined(); // cached as "not enrolled"
    const other = installBoom(path);
    const settled = await Promise.allSettled([d.mediations.addKey("did:c:1", "did:key:1"), d.messages.enqueue(req({ id: "boom" }), ONE)]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(await d.mediations.ownerOf("did:key:1")).toBeUndefined();
    other.close();
    expect(await d.mediations.addKey("did:c:1", "did:key:1")).toBe("success");
    expect(await d.mediations.ownerOf("did:key:1")).toBe("did:c:1");
    expect(await d.mediations.removeKey("did:c:1", "did:key:1")).toBe("success");
    expect(await d.mediations.ownerOf("did:key:1")).toBeUndefined();
    await d.close();
  });

  it("forgets DID ids interned by a rolled-back batch (the ids are handed out again)", async () => {
    const path = freshPath();
    const d = openSqliteDriver({ path });
    const other = installBoom(path);
    const a = req({ mailbox: "did:m:a", recipientDid: "did:m:a#k" });
    const settled = await Promise.allSettled([d.messages.enqueue(a, ONE), d.messages.enqueue(req({ id: "boom" }), ONE)]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    other.close();
    // b's DIDs now get the integer ids a's DIDs had in the rolled-back batch; a stale cache would file a under b.
    const b = req({ mailbox: "did:m:b", recipientDid: "did:m:b#k" });
    expect(await d.messages.enqueue(b, ONE)).toEqual({ status: "stored", id: b.id });
    expect(await d.messages.enqueue(a, ONE)).toEqual({ status: "stored", id: a.id });
    expect((await d.messages.list("did:m:b", { limit: 10 })).map((m) => [m.id, m.recipientDid])).toEqual([[b.id, "did:m:b#k"]]);
    expect((await d.messages.list("did:m:a", { limit: 10 })).map((m) => [m.id, m.recipientDid])).toEqual([[a.id, "did:m:a#k"]]);
    await d.close();
  });

  it("frees quota after expiry and removal", async () => {
    const d = openSqliteDriver({ path: freshPath() });
    const mailbox = "did:m:2";
    const first = req({ mailbox, expiresAtMs: 5 });
    expect((await d.messages.enqueue(first, ONE)).status).toBe("stored");
    expect(await d.messages.enqueue(req({ mailbox }), ONE)).toEqual({ status: "quota_exceeded", limit: "count" });
    expect(await d.messages.expire(10, 100)).toBe(1);
    const second = req({ mailbox });
    expect(await d.messages.enqueue(second, ONE)).toEqual({ status: "stored", id: second.id });
    expect(await d.messages.remove(mailbox, [second.id])).toBe(1);
    const third = req({ mailbox });
    expect(await d.messages.enqueue(third, ONE)).toEqual({ status: "stored", id: third.id });
    expect(await d.messages.stats(mailbox)).toMatchObject({ count: 1, totalBytes: third.payload.byteLength });
    await d.close();
  });

  it("reports a taken id as a conflict and a repeated dedup key as a duplicate", async () => {
    const d = openSqliteDriver({ path: freshPath() });
    const a = req({ mailbox: "did:m:3" });
    await d.messages.enqueue(a, ONE);
    expect(await d.messages.enqueue(req({ mailbox: "did:m:3", dedupKey: a.dedupKey }), { maxCount: 10, maxBytes: 1 << 30 })).toEqual({ status: "duplicate", id: a.id });
    await expect(d.messages.enqueue(req({ id: a.id, mailbox: "did:m:4" }), ONE)).rejects.toMatchObject({ code: "conflict" });
    expect(await d.messages.stats("did:m:4")).toMatchObject({ count: 0 });
    // The refused insert changed no usage: the mailbox still takes exactly one message.
    expect((await d.messages.enqueue(req({ mailbox: "did:m:4" }), ONE)).status).toBe("stored");
    await d.close();
  });
});

describe("sqlite in-memory dedup index", () => {
  const ROOMY = { maxCount: 1000, maxBytes: 1 << 30 };

  it("finds duplicates stored before a reopen (the index is loaded from the table)", async () => {
    const path = freshPath();
    const d1 = openSqliteDriver({ path });
    const a = req({ mailbox: "did:m:r" });
    await d1.messages.enqueue(a, ROOMY);
    await d1.close();
    const d2 = openSqliteDriver({ path });
    expect(await d2.messages.enqueue(req({ mailbox: "did:m:r", dedupKey: a.dedupKey }), ROOMY)).toEqual({ status: "duplicate", id: a.id });
    // Same key, other mailbox: not a duplicate.
    expect((await d2.messages.enqueue(req({ mailbox: "did:m:other", dedupKey: a.dedupKey }), ROOMY)).status).toBe("stored");
    await d2.close();
  });

  it("a removed or expired message's key is free again; a rolled-back insert leaves no key, a rolled-back removal keeps it", async () => {
    const path = freshPath();
    const d = openSqliteDriver({ path });
    const kept = req({ mailbox: "did:m:x" });
    const removed = req({ mailbox: "did:m:x" });
    const expiring = req({ mailbox: "did:m:x", expiresAtMs: 5 });
    for (const r of [kept, removed, expiring]) expect((await d.messages.enqueue(r, ROOMY)).status).toBe("stored");
    expect(await d.messages.remove("did:m:x", [removed.id])).toBe(1);
    expect(await d.messages.expire(10, 100)).toBe(1);
    expect((await d.messages.enqueue(req({ mailbox: "did:m:x", dedupKey: removed.dedupKey }), ROOMY)).status).toBe("stored");
    expect((await d.messages.enqueue(req({ mailbox: "did:m:x", dedupKey: expiring.dedupKey }), ROOMY)).status).toBe("stored");

    const other = installBoom(path);
    // A batch that inserts a message, removes `kept`, then fails: both are undone, in the table and in the index.
    const ghost = req({ mailbox: "did:m:x" });
    const settled = await Promise.allSettled([
      d.messages.enqueue(ghost, ROOMY),
      d.messages.remove("did:m:x", [kept.id]),
      d.messages.enqueue(req({ id: "boom" }), ROOMY),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
    other.close();
    expect(await d.messages.enqueue(req({ mailbox: "did:m:x", dedupKey: kept.dedupKey }), ROOMY)).toEqual({ status: "duplicate", id: kept.id });
    expect((await d.messages.enqueue(req({ mailbox: "did:m:x", dedupKey: ghost.dedupKey }), ROOMY)).status).toBe("stored");
    // And the table agrees with what the index said: `kept` is still there, exactly once.
    expect((await d.messages.list("did:m:x", { limit: 100 })).filter((m) => m.id === kept.id)).toHaveLength(1);
    await d.close();
  });

  it("the same key twice in one batch stores it once", async () => {
    const d = openSqliteDriver({ path: freshPath() });
    const a = req({ mailbox: "did:m:b" });
    const results = await Promise.all([d.messages.enqueue(a, ROOMY), d.messages.enqueue(req({ mailbox: "did:m:b", dedupKey: a.dedupKey }), ROOMY)]);
    expect(results).toEqual([{ status: "stored", id: a.id }, { status: "duplicate", id: a.id }]);
    expect(await d.messages.stats("did:m:b")).toMatchObject({ count: 1 });
    await d.close();
  });
});

describe("DidIds", () => {
  it("keeps ids stable and exact when its cache is far smaller than the DIDs in use", () => {
    const db = new Database(":memory:");
    applyMigrations(db, MIGRATIONS, 0);
    const committer = new GroupCommitter((body) => db.transaction(body)(), { maxBatch: 1, maxDelayMs: 0 });
    const ids = new DidIds(db, committer, { maxEntries: 2, maxKeyChars: 64 });
    const dids = Array.from({ length: 20 }, (_, i) => `did:example:${i}`.padEnd(i % 2 === 0 ? 20 : 100, "x"));
    const first = dids.map((did) => ids.intern(did));
    expect(new Set(first).size).toBe(dids.length);
    expect(dids.map((did) => ids.intern(did))).toEqual(first); // evicted entries reload the same id
    expect(dids.map((did) => ids.find(did))).toEqual(first);
    expect(first.map((id) => ids.didOf(id))).toEqual(dids);
    expect(ids.find("did:example:unknown")).toBeUndefined();
    expect(db.query("SELECT COUNT(*) AS n FROM dids").get()).toEqual({ n: dids.length });
    expect(() => new DidIds(db, committer, { maxEntries: 0 })).toThrow(RangeError);
    db.close();
  });
});

describe("BoundedCache", () => {
  it("evicts oldest first by entries and by key characters", () => {
    const c = new BoundedCache<number>(3, 10);
    c.set("a", 1);
    c.set("b", 2);
    c.set("c", 3);
    c.set("d", 4);
    expect([c.has("a"), c.get("b"), c.get("d"), c.size]).toEqual([false, 2, 4, 3]);
    c.set("eeeeeeee", 5); // 8 chars: b must go to stay within 10 characters (c + d + e = 10)
    expect([c.has("b"), c.get("c"), c.get("d"), c.get("eeeeeeee")]).toEqual([false, 3, 4, 5]);
    c.set("x".repeat(11), 6); // longer than the whole budget: not cached
    expect(c.has("x".repeat(11))).toBe(false);
    c.delete("eeeeeeee");
    c.set("fffffffff", 7);
    expect(c.get("fffffffff")).toBe(7);
  });
});
