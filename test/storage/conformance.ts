// One conformance suite for every StorageDriver: call storageConformance(name, makeDriver) from a *.test.ts file.
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { StorageError, type StorageErrorCode } from "../../src/storage/errors.ts";
import type { EnqueueRequest, Quota, StorageDriver } from "../../src/storage/types.ts";
import { MAX_KEY_CHARS, MAX_LIMIT } from "../../src/storage/validate.ts";
import { messageModelTest } from "./model.ts";

export type MakeDriver = () => StorageDriver | Promise<StorageDriver>;

const BIG: Quota = { maxCount: 1_000_000, maxBytes: 1 << 30 };
const enc = new TextEncoder();

let counter = 0;
/** A valid request with fresh id and dedup key; override any field. */
export function req(overrides: Partial<EnqueueRequest> = {}): EnqueueRequest {
  counter += 1;
  return {
    id: `msg-${counter}`,
    mailbox: "did:example:alice",
    recipientDid: "did:example:alice#key-1",
    payload: enc.encode(`{"n":${counter}}`),
    receivedAtMs: 1000 + counter,
    expiresAtMs: null,
    dedupKey: `dedup-${counter}`,
    ...overrides,
  };
}

/** Awaits a rejection and checks it is a StorageError with this code. */
export async function rejectsWith(p: Promise<unknown>, code: StorageErrorCode): Promise<StorageError> {
  let outcome: unknown;
  try {
    outcome = await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StorageError);
    expect((e as StorageError).code).toBe(code);
    return e as StorageError;
  }
  throw new Error(`expected a StorageError ${code}, got ${JSON.stringify(outcome)}`);
}

export function storageConformance(name: string, makeDriver: MakeDriver): void {
  describe(`storage conformance: ${name}`, () => {
    let d: StorageDriver;
    beforeEach(async () => {
      d = await makeDriver();
    });
    afterEach(async () => {
      await d.close();
    });

    describe("messages.enqueue / list", () => {
      it("stores a message and lists it back field for field", async () => {
        const r = req({ expiresAtMs: 99_999 });
        expect(await d.messages.enqueue(r, BIG)).toEqual({ status: "stored", id: r.id });
        const listed = await d.messages.list(r.mailbox, { limit: 10 });
        expect(listed).toEqual([
          {
            id: r.id,
            mailbox: r.mailbox,
            recipientDid: r.recipientDid,
            payload: r.payload,
            sizeBytes: r.payload.byteLength,
            receivedAtMs: r.receivedAtMs,
            expiresAtMs: 99_999,
          },
        ]);
        expect(listed[0]!.payload).toBeInstanceOf(Uint8Array);
      });

      it("lists oldest first, ties in arrival order, honouring limit and recipient filter", async () => {
        const a = req({ receivedAtMs: 50, recipientDid: "did:r:1" });
        const b = req({ receivedAtMs: 10, recipientDid: "did:r:2" });
        const c = req({ receivedAtMs: 50, recipientDid: "did:r:2" });
        const e = req({ receivedAtMs: 30, recipientDid: "did:r:1" });
        for (const r of [a, b, c, e]) await d.messages.enqueue(r, BIG);
        const ids = async (opts: { limit: number; recipientDid?: string }) =>
          (await d.messages.list(a.mailbox, opts)).map((m) => m.id);
        expect(await ids({ limit: 10 })).toEqual([b.id, e.id, a.id, c.id]);
        expect(await ids({ limit: 2 })).toEqual([b.id, e.id]);
        expect(await ids({ limit: 10, recipientDid: "did:r:2" })).toEqual([b.id, c.id]);
        expect(await ids({ limit: 1, recipientDid: "did:r:1" })).toEqual([e.id]);
        expect(await ids({ limit: 10, recipientDid: "did:r:none" })).toEqual([]);
        expect(await d.messages.list("did:example:nobody", { limit: 10 })).toEqual([]);
      });

      it("keeps stored payloads isolated from caller mutation", async () => {
        const r = req({ payload: new Uint8Array([1, 2, 3]) });
        await d.messages.enqueue(r, BIG);
        r.payload[0] = 9;
        const [first] = await d.messages.list(r.mailbox, { limit: 1 });
        first!.payload[1] = 9;
        const [again] = await d.messages.list(r.mailbox, { limit: 1 });
        expect(again!.payload).toEqual(new Uint8Array([1, 2, 3]));
      });

      it("reports a duplicate dedup key with the stored copy's id, per mailbox", async () => {
        const first = req({ dedupKey: "k" });
        await d.messages.enqueue(first, BIG);
        expect(await d.messages.enqueue(req({ dedupKey: "k" }), BIG)).toEqual({ status: "duplicate", id: first.id });
        const other = req({ dedupKey: "k", mailbox: "did:example:bob" });
        expect(await d.messages.enqueue(other, BIG)).toEqual({ status: "stored", id: other.id });
        expect((await d.messages.stats(first.mailbox)).count).toBe(1);
      });

      it("stores exactly one of many concurrent enqueues with the same dedup key", async () => {
        const reqs = Array.from({ length: 20 }, () => req({ dedupKey: "same" }));
        const results = await Promise.all(reqs.map((r) => d.messages.enqueue(r, BIG)));
        expect(results[0]).toEqual({ status: "stored", id: reqs[0]!.id });
        for (const r of results.slice(1)) expect(r).toEqual({ status: "duplicate", id: reqs[0]!.id });
        expect((await d.messages.stats(reqs[0]!.mailbox)).count).toBe(1);
      });

      it("frees the dedup key once the message is removed", async () => {
        const first = req({ dedupKey: "k" });
        await d.messages.enqueue(first, BIG);
        await d.messages.remove(first.mailbox, [first.id]);
        const again = req({ dedupKey: "k" });
        expect(await d.messages.enqueue(again, BIG)).toEqual({ status: "stored", id: again.id });
      });
    });

    describe("messages quota", () => {
      it("rejects over the count limit, then the byte limit; count is checked first", async () => {
        const quota = { maxCount: 2, maxBytes: 10 };
        const p4 = () => new Uint8Array(4);
        expect((await d.messages.enqueue(req({ payload: p4() }), quota)).status).toBe("stored");
        expect(await d.messages.enqueue(req({ payload: new Uint8Array(7) }), quota)).toEqual({
          status: "quota_exceeded",
          limit: "bytes",
        });
        expect((await d.messages.enqueue(req({ payload: p4() }), quota)).status).toBe("stored"); // 8 bytes, 2 msgs
        expect(await d.messages.enqueue(req({ payload: new Uint8Array(0) }), quota)).toEqual({
          status: "quota_exceeded",
          limit: "count",
        });
        expect(await d.messages.enqueue(req({ payload: new Uint8Array(9) }), quota)).toEqual({
          status: "quota_exceeded",
          limit: "count",
        });
        expect(await d.messages.stats(req().mailbox)).toMatchObject({ count: 2, totalBytes: 8 });
      });

      it("accepts exactly up to the limits (inclusive) and zero quotas store nothing", async () => {
        expect((await d.messages.enqueue(req({ payload: new Uint8Array(5) }), { maxCount: 1, maxBytes: 5 })).status).toBe(
          "stored",
        );
        expect(await d.messages.enqueue(req({ mailbox: "did:x:z" }), { maxCount: 0, maxBytes: 100 })).toEqual({
          status: "quota_exceeded",
          limit: "count",
        });
        expect(await d.messages.enqueue(req({ mailbox: "did:x:z" }), { maxCount: 5, maxBytes: 0 })).toEqual({
          status: "quota_exceeded",
          limit: "bytes",
        });
      });

      it("checks quota atomically under concurrency", async () => {
        const quota = { maxCount: 7, maxBytes: 1_000_000 };
        const results = await Promise.all(Array.from({ length: 30 }, () => d.messages.enqueue(req(), quota)));
        expect(results.filter((r) => r.status === "stored").length).toBe(7);
        expect(results.slice(7).every((r) => r.status === "quota_exceeded")).toBe(true);
        expect((await d.messages.stats(req().mailbox)).count).toBe(7);
      });

      it("reports a duplicate even when the mailbox is full", async () => {
        const first = req({ dedupKey: "k" });
        await d.messages.enqueue(first, { maxCount: 1, maxBytes: 1000 });
        expect(await d.messages.enqueue(req({ dedupKey: "k" }), { maxCount: 1, maxBytes: 1000 })).toEqual({
          status: "duplicate",
          id: first.id,
        });
      });

      it("frees quota when messages are removed", async () => {
        const quota = { maxCount: 1, maxBytes: 1000 };
        const first = req();
        await d.messages.enqueue(first, quota);
        expect((await d.messages.enqueue(req(), quota)).status).toBe("quota_exceeded");
        await d.messages.remove(first.mailbox, [first.id]);
        expect((await d.messages.enqueue(req(), quota)).status).toBe("stored");
      });
    });

    describe("messages id conflicts", () => {
      it("rejects only the request whose id is taken, in any mailbox", async () => {
        const first = req();
        await d.messages.enqueue(first, BIG);
        const ok1 = req();
        const ok2 = req();
        const [a, b, c, e] = await Promise.allSettled([
          d.messages.enqueue(ok1, BIG),
          d.messages.enqueue(req({ id: first.id }), BIG),
          d.messages.enqueue(req({ id: first.id, mailbox: "did:example:bob" }), BIG),
          d.messages.enqueue(ok2, BIG),
        ]);
        expect(a).toEqual({ status: "fulfilled", value: { status: "stored", id: ok1.id } });
        expect(e).toEqual({ status: "fulfilled", value: { status: "stored", id: ok2.id } });
        for (const r of [b, c]) {
          expect(r!.status).toBe("rejected");
          const err = (r as PromiseRejectedResult).reason as StorageError;
          expect(err).toBeInstanceOf(StorageError);
          expect(err.code).toBe("conflict");
          expect(err.retryable).toBe(false);
        }
        expect((await d.messages.stats(first.mailbox)).count).toBe(3);
        expect((await d.messages.stats("did:example:bob")).count).toBe(0);
      });
    });

    describe("messages.stats", () => {
      it("is zero for an empty mailbox and tracks count, bytes, oldest and newest", async () => {
        const empty = { count: 0, totalBytes: 0, oldestReceivedAtMs: null, newestReceivedAtMs: null };
        expect(await d.messages.stats("did:example:alice")).toEqual(empty);
        await d.messages.enqueue(req({ receivedAtMs: 300, payload: new Uint8Array(3), recipientDid: "did:r:1" }), BIG);
        await d.messages.enqueue(req({ receivedAtMs: 100, payload: new Uint8Array(5), recipientDid: "did:r:2" }), BIG);
        await d.messages.enqueue(req({ receivedAtMs: 200, payload: new Uint8Array(7), recipientDid: "did:r:1" }), BIG);
        await d.messages.enqueue(req({ mailbox: "did:example:bob", payload: new Uint8Array(11) }), BIG);
        expect(await d.messages.stats("did:example:alice")).toEqual({
          count: 3,
          totalBytes: 15,
          oldestReceivedAtMs: 100,
          newestReceivedAtMs: 300,
        });
        expect(await d.messages.stats("did:example:alice", "did:r:1")).toEqual({
          count: 2,
          totalBytes: 10,
          oldestReceivedAtMs: 200,
          newestReceivedAtMs: 300,
        });
        expect(await d.messages.stats("did:example:alice", "did:r:none")).toEqual(empty);
      });
    });

    describe("messages.remove", () => {
      it("removes only ids in the given mailbox, counting each once", async () => {
        const a = req();
        const b = req();
        const bob = req({ mailbox: "did:example:bob" });
        for (const r of [a, b, bob]) await d.messages.enqueue(r, BIG);
        expect(await d.messages.remove(a.mailbox, [])).toBe(0);
        expect(await d.messages.remove(a.mailbox, [a.id, a.id, bob.id, "unknown"])).toBe(1);
        expect((await d.messages.list(a.mailbox, { limit: 10 })).map((m) => m.id)).toEqual([b.id]);
        expect((await d.messages.list(bob.mailbox, { limit: 10 })).map((m) => m.id)).toEqual([bob.id]);
        expect(await d.messages.remove(a.mailbox, [a.id])).toBe(0);
        expect(await d.messages.stats(a.mailbox)).toMatchObject({ count: 1, totalBytes: b.payload.byteLength });
      });

      it("applies writes in call order, even without awaiting in between", async () => {
        const a = req();
        const stored = d.messages.enqueue(a, BIG);
        const removed = d.messages.remove(a.mailbox, [a.id]);
        expect(await stored).toEqual({ status: "stored", id: a.id });
        expect(await removed).toBe(1);
        expect((await d.messages.stats(a.mailbox)).count).toBe(0);
      });
    });

    describe("messages.expire", () => {
      it("deletes only messages due at nowMs, earliest expiry first, bounded by limit", async () => {
        const never = req({ expiresAtMs: null });
        const late = req({ expiresAtMs: 500 });
        const early = req({ expiresAtMs: 100 });
        const mid = req({ expiresAtMs: 200, mailbox: "did:example:bob" });
        const edge = req({ expiresAtMs: 300 });
        for (const r of [never, late, early, mid, edge]) await d.messages.enqueue(r, BIG);
        expect(await d.messages.expire(99, 10)).toBe(0);
        expect(await d.messages.expire(300, 2)).toBe(2); // early, mid
        expect((await d.messages.list(mid.mailbox, { limit: 10 })).length).toBe(0);
        expect((await d.messages.list(early.mailbox, { limit: 10 })).map((m) => m.id).sort()).toEqual(
          [never.id, late.id, edge.id].sort(),
        );
        expect(await d.messages.expire(300, 10)).toBe(1); // edge: expiresAtMs <= nowMs
        expect(await d.messages.expire(10_000, 10)).toBe(1); // late; never stays
        expect(await d.messages.stats(never.mailbox)).toMatchObject({ count: 1, totalBytes: never.payload.byteLength });
        expect(await d.messages.expire(Number.MAX_SAFE_INTEGER, 10)).toBe(0);
      });
    });

    describe("input bounds", () => {
      const long = "x".repeat(MAX_KEY_CHARS + 1);
      const bad: [string, () => Promise<unknown>][] = [
        ["empty id", () => d.messages.enqueue(req({ id: "" }), BIG)],
        ["over-long id", () => d.messages.enqueue(req({ id: long }), BIG)],
        ["non-string mailbox", () => d.messages.enqueue(req({ mailbox: 7 as unknown as string }), BIG)],
        ["over-long recipient", () => d.messages.enqueue(req({ recipientDid: long }), BIG)],
        ["empty dedup key", () => d.messages.enqueue(req({ dedupKey: "" }), BIG)],
        ["string payload", () => d.messages.enqueue(req({ payload: "{}" as unknown as Uint8Array }), BIG)],
        ["negative receivedAtMs", () => d.messages.enqueue(req({ receivedAtMs: -1 }), BIG)],
        ["fractional receivedAtMs", () => d.messages.enqueue(req({ receivedAtMs: 1.5 }), BIG)],
        ["NaN expiresAtMs", () => d.messages.enqueue(req({ expiresAtMs: Number.NaN }), BIG)],
        ["negative quota", () => d.messages.enqueue(req(), { maxCount: -1, maxBytes: 10 })],
        ["missing quota", () => d.messages.enqueue(req(), undefined as unknown as Quota)],
        ["list limit 0", () => d.messages.list("did:x:a", { limit: 0 })],
        ["list limit over max", () => d.messages.list("did:x:a", { limit: MAX_LIMIT + 1 })],
        ["list fractional limit", () => d.messages.list("did:x:a", { limit: 2.5 })],
        ["list empty mailbox", () => d.messages.list("", { limit: 1 })],
        ["stats over-long recipient", () => d.messages.stats("did:x:a", long)],
        ["remove too many ids", () => d.messages.remove("did:x:a", Array.from({ length: MAX_LIMIT + 1 }, (_, i) => `${i}`))],
        ["remove empty id", () => d.messages.remove("did:x:a", [""])],
        ["expire limit 0", () => d.messages.expire(1, 0)],
        ["expire negative now", () => d.messages.expire(-1, 1)],
        ["grant bad time", () => d.mediations.grant({ clientDid: "c", routingDid: "r", grantedAtMs: -5 })],
        ["addKey empty", () => d.mediations.addKey("c", "")],
        ["listKeys limit 0", () => d.mediations.listKeys("c", { offset: 0, limit: 0 })],
        ["listKeys negative offset", () => d.mediations.listKeys("c", { offset: -1, limit: 1 })],
        ["replay ttl 0", () => d.replay.checkAndRecord("s", "m", 0, 0)],
        ["replay empty sender", () => d.replay.checkAndRecord("", "m", 0, 10)],
        ["replay overflowing expiry", () => d.replay.checkAndRecord("s", "m", Number.MAX_SAFE_INTEGER, 10)],
      ];
      for (const [label, call] of bad) {
        it(`rejects ${label} with invalid_argument`, async () => {
          const err = await rejectsWith(call(), "invalid_argument");
          expect(err.retryable).toBe(false);
          expect((await d.messages.stats("did:example:alice")).count).toBe(0);
        });
      }

      it("accepts keys of exactly the maximum length", async () => {
        const max = "y".repeat(MAX_KEY_CHARS);
        const r = req({ id: max, mailbox: max, recipientDid: max, dedupKey: max });
        expect((await d.messages.enqueue(r, BIG)).status).toBe("stored");
        expect((await d.messages.list(max, { limit: MAX_LIMIT })).length).toBe(1);
      });
    });

    describe("mediations", () => {
      const alice = "did:example:alice";
      const bob = "did:example:bob";

      it("grants idempotently (upsert) and reads back", async () => {
        expect(await d.mediations.get(alice)).toBeUndefined();
        const m = { clientDid: alice, routingDid: "did:peer:routing", grantedAtMs: 5 };
        await d.mediations.grant(m);
        await d.mediations.grant(m);
        expect(await d.mediations.get(alice)).toEqual(m);
        const m2 = { ...m, routingDid: "did:peer:routing2", grantedAtMs: 9 };
        await d.mediations.grant(m2);
        expect(await d.mediations.get(alice)).toEqual(m2);
        expect(await d.mediations.get(bob)).toBeUndefined();
      });

      it("refuses keys for a client without mediation", async () => {
        const err = await rejectsWith(d.mediations.addKey(alice, "did:key:k1"), "not_found");
        expect(err.retryable).toBe(false);
        expect(await d.mediations.ownerOf("did:key:k1")).toBeUndefined();
      });

      it("adds, conflicts, and removes keys by owner only", async () => {
        await d.mediations.grant({ clientDid: alice, routingDid: "did:r", grantedAtMs: 1 });
        await d.mediations.grant({ clientDid: bob, routingDid: "did:r", grantedAtMs: 1 });
        expect(await d.mediations.addKey(alice, "did:key:k1")).toBe("success");
        expect(await d.mediations.addKey(alice, "did:key:k1")).toBe("no_change");
        expect(await d.mediations.addKey(bob, "did:key:k1")).toBe("conflict");
        expect(await d.mediations.ownerOf("did:key:k1")).toBe(alice);
        expect(await d.mediations.removeKey(bob, "did:key:k1")).toBe("no_change");
        expect(await d.mediations.ownerOf("did:key:k1")).toBe(alice);
        expect(await d.mediations.removeKey(alice, "did:key:k1")).toBe("success");
        expect(await d.mediations.removeKey(alice, "did:key:k1")).toBe("no_change");
        expect(await d.mediations.ownerOf("did:key:k1")).toBeUndefined();
        expect(await d.mediations.addKey(bob, "did:key:k1")).toBe("success");
        expect(await d.mediations.ownerOf("did:key:k1")).toBe(bob);
      });

      it("gives a contended key to exactly one client", async () => {
        await d.mediations.grant({ clientDid: alice, routingDid: "did:r", grantedAtMs: 1 });
        await d.mediations.grant({ clientDid: bob, routingDid: "did:r", grantedAtMs: 1 });
        const [a, b] = await Promise.all([d.mediations.addKey(alice, "did:key:z"), d.mediations.addKey(bob, "did:key:z")]);
        expect([a, b]).toEqual(["success", "conflict"]);
        expect(await d.mediations.ownerOf("did:key:z")).toBe(alice);
      });

      it("lists keys sorted and paged, with the total", async () => {
        await d.mediations.grant({ clientDid: alice, routingDid: "did:r", grantedAtMs: 1 });
        await d.mediations.grant({ clientDid: bob, routingDid: "did:r", grantedAtMs: 1 });
        for (const k of ["did:key:c", "did:key:a", "did:key:e", "did:key:b", "did:key:d"]) {
          await d.mediations.addKey(alice, k);
        }
        await d.mediations.addKey(bob, "did:key:0");
        expect(await d.mediations.listKeys(alice, { offset: 0, limit: 2 })).toEqual({
          keys: ["did:key:a", "did:key:b"],
          total: 5,
        });
        expect(await d.mediations.listKeys(alice, { offset: 2, limit: 10 })).toEqual({
          keys: ["did:key:c", "did:key:d", "did:key:e"],
          total: 5,
        });
        expect(await d.mediations.listKeys(alice, { offset: 5, limit: 10 })).toEqual({ keys: [], total: 5 });
        expect(await d.mediations.listKeys("did:example:carol", { offset: 0, limit: 10 })).toEqual({ keys: [], total: 0 });
      });
    });

    describe("replay guard", () => {
      it("returns true once per (sender, id) until the record expires", async () => {
        expect(await d.replay.checkAndRecord("did:s:1", "m1", 1000, 100)).toBe(true);
        expect(await d.replay.checkAndRecord("did:s:1", "m1", 1050, 100)).toBe(false);
        expect(await d.replay.checkAndRecord("did:s:1", "m1", 1099, 100)).toBe(false);
        expect(await d.replay.checkAndRecord("did:s:2", "m1", 1050, 100)).toBe(true);
        expect(await d.replay.checkAndRecord("did:s:1", "m2", 1050, 100)).toBe(true);
        expect(await d.replay.checkAndRecord("did:s:1", "m1", 1100, 100)).toBe(true); // expired at 1100
        expect(await d.replay.checkAndRecord("did:s:1", "m1", 1150, 100)).toBe(false); // re-recorded until 1200
      });

      it("does not confuse sender/id splits of the same concatenation", async () => {
        expect(await d.replay.checkAndRecord("ab", "c", 0, 100)).toBe(true);
        expect(await d.replay.checkAndRecord("a", "bc", 0, 100)).toBe(true);
      });

      it("admits exactly one of concurrent identical checks", async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, () => d.replay.checkAndRecord("did:s:1", "dup", 5, 1000)),
        );
        expect(results.filter(Boolean).length).toBe(1);
        expect(results[0]).toBe(true);
      });

      it("stays correct while many records expire and are purged", async () => {
        // 30 rounds of 100 concurrent records, 10 ms apart, each living 50 ms.
        for (let g = 0; g < 30; g++) {
          const round = Array.from({ length: 100 }, (_, i) => d.replay.checkAndRecord("did:s:bulk", `m${g}-${i}`, g * 10, 50));
          expect((await Promise.all(round)).every(Boolean)).toBe(true);
        }
        expect(await d.replay.checkAndRecord("did:s:bulk", "m29-5", 300, 50)).toBe(false); // expires at 340
        expect(await d.replay.checkAndRecord("did:s:bulk", "m25-5", 300, 50)).toBe(true); // expired at 300
        expect(await d.replay.checkAndRecord("did:s:bulk", "m0-5", 300, 50)).toBe(true);
      });
    });

    describe("lifecycle", () => {
      it("is healthy while open", async () => {
        const h = await d.health();
        expect(h.ok).toBe(true);
        expect(typeof h.detail).toBe("string");
      });

      it("answers writes submitted before close, then rejects everything with closed", async () => {
        const r = req();
        const pending = d.messages.enqueue(r, BIG);
        await d.close();
        expect(await pending).toEqual({ status: "stored", id: r.id });
        await rejectsWith(d.messages.enqueue(req(), BIG), "closed");
        await rejectsWith(d.messages.list(r.mailbox, { limit: 1 }), "closed");
        await rejectsWith(d.messages.stats(r.mailbox), "closed");
        await rejectsWith(d.mediations.get("did:x:a"), "closed");
        await rejectsWith(d.replay.checkAndRecord("s", "m", 0, 10), "closed");
        expect((await d.health()).ok).toBe(false);
        await d.close(); // idempotent; afterEach closes again too
      });
    });

    it("matches a simple model under random concurrent operations", async () => {
      await messageModelTest(d);
    });
  });
}
