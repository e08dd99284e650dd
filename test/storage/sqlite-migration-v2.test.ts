// Schema v2 (interned, integer-keyed DIDs): a populated v1 database upgrades in place and keeps every answer.
import { Database } from "bun:sqlite";
import { Rng, seedFromEnv } from "../support/random.ts";
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, applyMigrations, openSqliteDriver } from "../../src/storage/index.ts";

const dir = mkdtempSync(join(tmpdir(), "haven-sqlite-v2-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const freshPath = (): string => join(dir, `m${++fileNo}.db`);
const BIG = { maxCount: 1_000_000, maxBytes: 1 << 30 };

const seed = seedFromEnv();
console.log(`sqlite-migration-v2 seed: ${seed} (replay with SEED=${seed})`);

/** Uniform floats in [0, 1) from the shared seeded PRNG: the generated v1 contents are reproducible from the seed. */
function rng(s: bigint): () => number {
  const r = new Rng(s);
  return () => r.u32() / 2 ** 32;
}

/** A long did:peer:2-like DID, as the node really stores. */
const longDid = (tag: string): string => `did:peer:2.Ez6LS${tag}.${"V".repeat(560)}`;

interface V1Message {
  id: string;
  mailbox: string;
  recipientDid: string;
  payload: Uint8Array;
  receivedAtMs: number;
  expiresAtMs: number | null;
  dedupKey: string;
}

/** Writes a v1 database the way v1 code did (raw SQL against the frozen v1 schema); returns what it stored. */
function writeV1(path: string, rand: () => number): V1Message[] {
  const db = new Database(path, { create: true, strict: true });
  db.run("PRAGMA journal_mode = WAL");
  expect(applyMigrations(db, MIGRATIONS.slice(0, 1), 100)).toEqual([1]);
  const mailboxes = [longDid("alice"), longDid("bob"), "did:example:carol"];
  // Recipients overlap across mailboxes' rows, and one mailbox DID is also a recipient DID.
  const recipients = [`${longDid("alice")}#key-1`, `${longDid("rk")}#key-2`, mailboxes[2]!];
  const ins = db.prepare(
    `INSERT INTO messages (id, mailbox, recipient_did, payload, size_bytes, received_at_ms, expires_at_ms, dedup_key)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const stored: V1Message[] = [];
  const count = 60 + Math.floor(rand() * 60);
  for (let i = 0; i < count; i++) {
    const payload = new Uint8Array(1 + Math.floor(rand() * 300)).fill(i % 251);
    const m: V1Message = {
      id: `v1-${i}`,
      mailbox: mailboxes[Math.floor(rand() * mailboxes.length)]!,
      recipientDid: recipients[Math.floor(rand() * recipients.length)]!,
      payload,
      receivedAtMs: 1000 + Math.floor(rand() * 5), // many equal timestamps: arrival order must survive
      expiresAtMs: rand() < 0.3 ? 5000 + Math.floor(rand() * 100) : null,
      dedupKey: `sha256:${i}`,
    };
    ins.run(m.id, m.mailbox, m.recipientDid, m.payload, payload.byteLength, m.receivedAtMs, m.expiresAtMs, m.dedupKey);
    stored.push(m);
  }
  db.run("INSERT INTO mediations (client_did, routing_did, granted_at_ms) VALUES (?, ?, ?)", [mailboxes[0]!, "did:r", 7]);
  db.run("INSERT INTO keys (recipient_did, client_did) VALUES (?, ?)", [recipients[0]!, mailboxes[0]!]);
  db.run("INSERT INTO keys (recipient_did, client_did) VALUES (?, ?)", [recipients[1]!, mailboxes[0]!]);
  db.run("INSERT INTO replay (sender, message_id, expires_at_ms) VALUES ('did:s', 'm1', 1000000)");
  db.close();
  return stored;
}

/** What list() must return for a mailbox: receivedAtMs, then insertion (arrival) order. */
function expectedList(stored: readonly V1Message[], mailbox: string, recipientDid?: string) {
  return stored
    .map((m, arrival) => ({ m, arrival }))
    .filter(({ m }) => m.mailbox === mailbox && (recipientDid === undefined || m.recipientDid === recipientDid))
    .sort((a, b) => a.m.receivedAtMs - b.m.receivedAtMs || a.arrival - b.arrival)
    .map(({ m }) => ({
      id: m.id,
      mailbox: m.mailbox,
      recipientDid: m.recipientDid,
      payload: m.payload,
      sizeBytes: m.payload.byteLength,
      receivedAtMs: m.receivedAtMs,
      expiresAtMs: m.expiresAtMs,
    }));
}

describe("schema v2 migration", () => {
  it("upgrades a populated v1 database in place with messages, mediations, keys and replay intact", async () => {
    const path = freshPath();
    const stored = writeV1(path, rng(seed));
    const mailboxes = [...new Set(stored.map((m) => m.mailbox))];
    const recipients = [...new Set(stored.map((m) => m.recipientDid))];

    const d = openSqliteDriver({ path, clock: { nowMs: () => 200 } });
    expect((await d.health()).detail).toContain(`schema=v${MIGRATIONS.length}`);
    for (const mailbox of mailboxes) {
      expect(await d.messages.list(mailbox, { limit: 1000 })).toEqual(expectedList(stored, mailbox));
      for (const r of recipients) {
        expect(await d.messages.list(mailbox, { limit: 1000, recipientDid: r })).toEqual(expectedList(stored, mailbox, r));
        const mine = expectedList(stored, mailbox, r);
        expect(await d.messages.stats(mailbox, r)).toEqual({
          count: mine.length,
          totalBytes: mine.reduce((s, m) => s + m.sizeBytes, 0),
          oldestReceivedAtMs: mine.length === 0 ? null : Math.min(...mine.map((m) => m.receivedAtMs)),
          newestReceivedAtMs: mine.length === 0 ? null : Math.max(...mine.map((m) => m.receivedAtMs)),
        });
      }
      const all = expectedList(stored, mailbox);
      expect(await d.messages.stats(mailbox)).toEqual({
        count: all.length,
        totalBytes: all.reduce((s, m) => s + m.sizeBytes, 0),
        oldestReceivedAtMs: all.length === 0 ? null : Math.min(...all.map((m) => m.receivedAtMs)),
        newestReceivedAtMs: all.length === 0 ? null : Math.max(...all.map((m) => m.receivedAtMs)),
      });
    }

    // Dedup keys, ids and quota usage carried over.
    const old = stored[0]!;
    expect(await d.messages.enqueue({ ...old, id: "new-1" }, BIG)).toEqual({ status: "duplicate", id: old.id });
    await expect(d.messages.enqueue({ ...old, dedupKey: "fresh" }, BIG)).rejects.toMatchObject({ code: "conflict" });
    const used = expectedList(stored, old.mailbox).length;
    const full = { maxCount: used, maxBytes: 1 << 30 };
    expect(await d.messages.enqueue({ ...old, id: "new-2", dedupKey: "fresh-2" }, full)).toEqual({
      status: "quota_exceeded",
      limit: "count",
    });

    expect(await d.mediations.get(mailboxes.find((m) => m.includes("alice")) ?? "")).toMatchObject({ routingDid: "did:r" });
    const alice = longDid("alice");
    expect(await d.mediations.ownerOf(`${alice}#key-1`)).toBe(alice);
    expect((await d.mediations.listKeys(alice, { offset: 0, limit: 10 })).total).toBe(2);
    expect(await d.replay.checkAndRecord("did:s", "m1", 10, 1000)).toBe(false);

    // Writes after the upgrade: remove, expire and new messages keep the counters exact.
    const firstIds = expectedList(stored, old.mailbox).slice(0, 5).map((m) => m.id);
    expect(await d.messages.remove(old.mailbox, firstIds)).toBe(firstIds.length);
    const expiring = stored.filter((m) => m.expiresAtMs !== null && !firstIds.includes(m.id)).length;
    expect(await d.messages.expire(10_000, 1000)).toBe(expiring);
    const fresh = { ...old, id: "new-3", dedupKey: "fresh-3", recipientDid: "did:example:new#k" };
    expect(await d.messages.enqueue(fresh, BIG)).toEqual({ status: "stored", id: "new-3" });
    expect((await d.messages.list(old.mailbox, { limit: 1000, recipientDid: fresh.recipientDid })).map((m) => m.id)).toEqual(["new-3"]);
    await d.close();

    const db = new Database(path, { readonly: true });
    expect(db.query("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version").all()).toEqual([
      { version: 1, applied_at_ms: 100 },
      ...MIGRATIONS.slice(1).map((m) => ({ version: m.version, applied_at_ms: 200 })),
    ]);
    // Message rows (and so every message index) hold DIDs only as integer ids now.
    const columns = db.query<{ name: string }, []>("SELECT name FROM pragma_table_info('messages')").all().map((r) => r.name);
    expect(columns).toContain("mailbox_id");
    expect(columns).not.toContain("mailbox");
    expect(columns).not.toContain("recipient_did");
    expect(db.query("SELECT COUNT(*) AS n, COUNT(DISTINCT did) AS d FROM dids").get()).toMatchObject({
      n: mailboxes.length + recipients.filter((r) => !mailboxes.includes(r)).length + 1, // + the new recipient
    });
    const recount = db
      .query("SELECT mailbox_id, COUNT(*) AS count, SUM(size_bytes) AS bytes FROM messages GROUP BY mailbox_id ORDER BY mailbox_id")
      .all();
    expect(db.query("SELECT mailbox_id, count, bytes FROM mailbox_usage ORDER BY mailbox_id").all()).toEqual(recount);
    expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    expect(db.query("PRAGMA foreign_key_check").all()).toEqual([]);
    db.close();
  });

  it("upgrades an empty v1 database", async () => {
    const path = freshPath();
    const db = new Database(path, { create: true });
    applyMigrations(db, MIGRATIONS.slice(0, 1), 1);
    db.close();
    const d = openSqliteDriver({ path });
    expect(await d.messages.stats("did:example:a")).toEqual({
      count: 0,
      totalBytes: 0,
      oldestReceivedAtMs: null,
      newestReceivedAtMs: null,
    });
    const m = { id: "a", mailbox: "did:example:a", recipientDid: "did:example:a", payload: new Uint8Array(3), receivedAtMs: 1, expiresAtMs: null, dedupKey: "k" };
    expect(await d.messages.enqueue(m, BIG)).toEqual({ status: "stored", id: "a" });
    expect((await d.messages.list("did:example:a", { limit: 10 }))[0]).toMatchObject({ recipientDid: "did:example:a", mailbox: "did:example:a" });
    await d.close();
  });
});
