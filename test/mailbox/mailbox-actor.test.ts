// MailboxActor over the memory storage driver: delivery, quota, listing, removal, live listeners, faults.
import { afterEach, describe, expect, test } from "bun:test";
import { MailboxActor, type MailboxActorOptions } from "../../src/mailbox/mailbox-actor.ts";
import { MailboxError } from "../../src/mailbox/errors.ts";
import type { ListenerCloseReason } from "../../src/mailbox/listeners.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { StorageError } from "../../src/storage/errors.ts";
import { createMemoryDriver } from "../../src/storage/memory/driver.ts";
import type { EnqueueRequest, StorageDriver, StoredMessage } from "../../src/storage/types.ts";
import { Boom, deferred, fixedRandom } from "./helpers.ts";

const ALICE = "did:example:alice";
const BOB = "did:example:bob";
const enc = new TextEncoder();
let seq = 0;

function req(mailbox: string, body: string, extra: Partial<EnqueueRequest> = {}): EnqueueRequest {
  const id = `m${++seq}`;
  return {
    id,
    mailbox,
    recipientDid: `${mailbox}#key-1`,
    payload: enc.encode(body),
    receivedAtMs: 1_000 + seq,
    expiresAtMs: null,
    dedupKey: `dedup-${id}`,
    ...extra,
  };
}

const open: MailboxActor[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.stop({ drain: false })));
});

function setup(overrides: Partial<MailboxActorOptions> = {}, driver: StorageDriver = createMemoryDriver()) {
  const clock = new ManualClock();
  const mailbox = new MailboxActor({
    driver,
    clock,
    random: fixedRandom(0.5),
    defaultQuota: { maxCount: 100, maxBytes: 1 << 20 },
    actors: { idlePassivateMs: 1000, sweepIntervalMs: 100, restart: { backoffBaseMs: 100, backoffMaxMs: 100 } },
    ...overrides,
  });
  open.push(mailbox);
  return { clock, mailbox, driver };
}

/** A listener that records messages and answers with `answer`; `closed` resolves with the close reason. */
function recorder(answer: (msg: StoredMessage) => Promise<boolean> = () => Promise.resolve(true)) {
  const got: string[] = [];
  const closed = deferred<ListenerCloseReason>();
  const listener = (msg: StoredMessage) => {
    got.push(new TextDecoder().decode(msg.payload));
    return answer(msg);
  };
  return { got, closed, listener, opts: { onClosed: (r: ListenerCloseReason) => closed.resolve(r) } };
}

describe("MailboxActor storage operations", () => {
  test("deliver, list (oldest first), stats and remove are scoped to one mailbox", async () => {
    const { mailbox } = setup();
    const r1 = req(ALICE, "one");
    const r2 = req(ALICE, "two");
    expect((await mailbox.deliver(r1)).result).toEqual({ status: "stored", id: r1.id });
    await mailbox.deliver(r2);
    await mailbox.deliver(req(BOB, "bob's"));
    const list = await mailbox.list(ALICE, { limit: 10 });
    expect(list.map((m) => m.id)).toEqual([r1.id, r2.id]);
    expect(await mailbox.stats(ALICE)).toMatchObject({ count: 2, totalBytes: 6 });
    // Bob cannot remove Alice's messages; Alice can.
    expect(await mailbox.remove(BOB, [r1.id])).toBe(0);
    expect(await mailbox.remove(ALICE, [r1.id])).toBe(1);
    expect((await mailbox.list(ALICE, { limit: 10 })).map((m) => m.id)).toEqual([r2.id]);
    expect((await mailbox.stats(BOB)).count).toBe(1);
  });

  test("duplicates and the quota (default and per-mailbox) come back as results, not errors", async () => {
    const { mailbox } = setup({
      defaultQuota: { maxCount: 2, maxBytes: 1000 },
      quotaFor: (m) => (m === BOB ? { maxCount: 1, maxBytes: 1000 } : undefined),
    });
    const r = req(ALICE, "x");
    await mailbox.deliver(r);
    expect((await mailbox.deliver({ ...r, id: "other-id" })).result).toEqual({ status: "duplicate", id: r.id });
    await mailbox.deliver(req(ALICE, "y"));
    expect((await mailbox.deliver(req(ALICE, "z"))).result).toEqual({ status: "quota_exceeded", limit: "count" });
    await mailbox.deliver(req(BOB, "b1"));
    expect((await mailbox.deliver(req(BOB, "b2"))).result).toEqual({ status: "quota_exceeded", limit: "count" });
  });

  test("a StorageError rejects the request without crashing the actor", async () => {
    const { mailbox } = setup();
    const rec = recorder();
    await mailbox.subscribe(ALICE, rec.listener, rec.opts);
    await expect(mailbox.list(ALICE, { limit: 0 })).rejects.toBeInstanceOf(StorageError);
    expect(mailbox.inspect(ALICE)?.status).toBe("active");
    expect(await mailbox.listenerCount(ALICE)).toBe(1);
  });

  test("an invalid mailbox key is refused before any actor exists", async () => {
    const { mailbox } = setup();
    await expect(mailbox.stats("")).rejects.toBeInstanceOf(MailboxError);
    await expect(mailbox.stats("x".repeat(5000))).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(mailbox.deliver(req("", "x"))).rejects.toBeInstanceOf(MailboxError);
    expect(mailbox.liveActors).toBe(0);
  });
});

describe("MailboxActor live listeners", () => {
  test("stored messages are handed to every listener in order; duplicates are not", async () => {
    const { mailbox } = setup();
    const a = recorder();
    const b = recorder();
    await mailbox.subscribe(ALICE, a.listener, a.opts);
    await mailbox.subscribe(ALICE, b.listener, b.opts);
    const first = req(ALICE, "1");
    expect((await mailbox.deliver(first)).notified).toBe(2);
    await mailbox.deliver(req(ALICE, "2"));
    expect((await mailbox.deliver({ ...first, id: "again" })).notified).toBe(0);
    await mailbox.deliver(req(BOB, "not for alice"));
    expect(a.got).toEqual(["1", "2"]);
    expect(b.got).toEqual(["1", "2"]);
  });

  test("a listener answering false is removed; the message stays stored", async () => {
    const { mailbox } = setup();
    const rec = recorder(() => Promise.resolve(false));
    await mailbox.subscribe(ALICE, rec.listener, rec.opts);
    const r = req(ALICE, "hello");
    expect((await mailbox.deliver(r)).notified).toBe(1);
    expect(await rec.closed.promise).toBe("rejected");
    expect(await mailbox.listenerCount(ALICE)).toBe(0);
    expect((await mailbox.list(ALICE, { limit: 10 })).map((m) => m.id)).toEqual([r.id]);
  });

  test("a throwing or rejecting listener is removed; the others keep receiving", async () => {
    const { mailbox } = setup();
    const sync = recorder(() => {
      throw new Error("socket gone");
    });
    const async = recorder(() => Promise.reject(new Error("send failed")));
    const good = recorder();
    await mailbox.subscribe(ALICE, sync.listener, sync.opts);
    await mailbox.subscribe(ALICE, async.listener, async.opts);
    await mailbox.subscribe(ALICE, good.listener, good.opts);
    expect((await mailbox.deliver(req(ALICE, "1"))).notified).toBe(2);
    expect(await sync.closed.promise).toBe("failed");
    expect(await async.closed.promise).toBe("failed");
    await mailbox.deliver(req(ALICE, "2"));
    expect(good.got).toEqual(["1", "2"]);
    expect(await mailbox.listenerCount(ALICE)).toBe(1);
    expect((await mailbox.stats(ALICE)).count).toBe(2);
  });

  test("unsubscribe stops delivery and reports 'unsubscribed' once", async () => {
    const { mailbox } = setup();
    const rec = recorder();
    const reasons: ListenerCloseReason[] = [];
    const unsubscribe = await mailbox.subscribe(ALICE, rec.listener, { onClosed: (r) => reasons.push(r) });
    await mailbox.deliver(req(ALICE, "1"));
    unsubscribe();
    unsubscribe();
    await mailbox.deliver(req(ALICE, "2"));
    expect(rec.got).toEqual(["1"]);
    expect(reasons).toEqual(["unsubscribed"]);
  });

  test("a listener with maxInFlight unanswered sends is dropped as slow", async () => {
    const { mailbox } = setup({ maxInFlightPerListener: 2 });
    const never = deferred<boolean>();
    const rec = recorder(() => never.promise);
    await mailbox.subscribe(ALICE, rec.listener, rec.opts);
    await mailbox.deliver(req(ALICE, "1"));
    await mailbox.deliver(req(ALICE, "2"));
    expect((await mailbox.deliver(req(ALICE, "3"))).notified).toBe(0);
    expect(await rec.closed.promise).toBe("slow");
    expect(rec.got).toEqual(["1", "2"]);
    expect((await mailbox.stats(ALICE)).count).toBe(3);
  });

  test("maxListenersPerMailbox is enforced with a typed, retryable error", async () => {
    const { mailbox } = setup({ maxListenersPerMailbox: 1 });
    await mailbox.subscribe(ALICE, recorder().listener);
    const err = await mailbox.subscribe(ALICE, recorder().listener).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailboxError);
    expect(err).toMatchObject({ code: "too_many_listeners", retryable: true });
    await mailbox.subscribe(BOB, recorder().listener); // per mailbox, not global
  });

  test("a mailbox with live listeners is not passivated; after unsubscribe it is", async () => {
    const { mailbox, clock } = setup();
    const unsubscribe = await mailbox.subscribe(ALICE, recorder().listener);
    await mailbox.stats(BOB);
    await clock.advanceAsync(5000);
    expect(mailbox.inspect(ALICE)?.hasState).toBe(true);
    expect(mailbox.inspect(BOB)).toBeUndefined();
    unsubscribe();
    await clock.advanceAsync(5000);
    expect(mailbox.inspect(ALICE)).toBeUndefined();
  });

  test("stop closes live listeners with 'stopped'", async () => {
    const { mailbox } = setup();
    const rec = recorder();
    await mailbox.subscribe(ALICE, rec.listener, rec.opts);
    await mailbox.stop();
    expect(await rec.closed.promise).toBe("stopped");
  });
});

describe("MailboxActor fault injection", () => {
  test("a bug (non-storage error) in one mailbox crashes only it: listeners closed, restart after backoff", async () => {
    const driver = createMemoryDriver();
    let failFor: string | null = null;
    const enqueue = driver.messages.enqueue.bind(driver.messages);
    driver.messages.enqueue = (r, q) => {
      if (r.mailbox === failFor) throw new Boom("driver bug");
      return enqueue(r, q);
    };
    const { mailbox, clock } = setup({}, driver);
    const alice = recorder();
    const bob = recorder();
    await mailbox.subscribe(ALICE, alice.listener, alice.opts);
    await mailbox.subscribe(BOB, bob.listener, bob.opts);

    failFor = ALICE;
    await expect(mailbox.deliver(req(ALICE, "lost"))).rejects.toBeInstanceOf(Boom);
    expect(await alice.closed.promise).toBe("crashed");
    expect(mailbox.inspect(ALICE)?.status).toBe("restarting");
    // Bob's actor and listener are untouched.
    expect((await mailbox.deliver(req(BOB, "b"))).notified).toBe(1);
    expect(bob.got).toEqual(["b"]);

    failFor = null;
    const queued = mailbox.deliver(req(ALICE, "after"));
    await clock.advanceAsync(50); // fixedRandom(0.5) * 100 ms cap
    expect((await queued).result.status).toBe("stored");
    expect(await mailbox.listenerCount(ALICE)).toBe(0); // the crash dropped them; clients resubscribe
    expect((await mailbox.list(ALICE, { limit: 10 })).map((m) => new TextDecoder().decode(m.payload))).toEqual(["after"]);
  });

  test("deliveries to one mailbox are stored and pushed in call order under concurrency", async () => {
    const { mailbox } = setup();
    const rec = recorder();
    await mailbox.subscribe(ALICE, rec.listener, rec.opts);
    const bodies = Array.from({ length: 50 }, (_, i) => `msg-${i}`);
    await Promise.all(bodies.map((b) => mailbox.deliver(req(ALICE, b))));
    expect(rec.got).toEqual(bodies);
    expect((await mailbox.list(ALICE, { limit: 100 })).map((m) => new TextDecoder().decode(m.payload))).toEqual(bodies);
  });
});
