// The per-forward webhook step (DeliveryEvents over CachedWebhookStore): answered from the cache without a lookup,
// the event id derived only when an event is queued, and the same events as before for DIDs with a webhook.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteEventQueue } from "../../src/delivery/sqlite-queue.ts";
import { SqliteWebhookStore } from "../../src/delivery/sqlite-webhook-store.ts";
import { DeliveryEvents } from "../../src/node/delivery-events.ts";
import { CachedWebhookStore } from "../../src/node/webhook-cache.ts";
import { ManualClock } from "../../src/runtime/index.ts";

const SECRET = "s".repeat(32);

describe("per-forward webhook events", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  function setup() {
    const dir = mkdtempSync(join(tmpdir(), "haven-routing-events-"));
    const clock = new ManualClock();
    const queue = new SqliteEventQueue({ path: join(dir, "delivery.sqlite"), clock });
    const inner = new SqliteWebhookStore({ path: ":memory:", clock });
    let innerGets = 0;
    const counting = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === "get") return (did: string) => (innerGets++, target.get(did));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const webhooks = new CachedWebhookStore(counting, { ttlMs: 60_000, clock });
    const events = new DeliveryEvents({ queue, webhooks, partitions: 4, clock, coalesceMs: 0 });
    cleanups.push(() => {
      queue.close();
      inner.close();
      rmSync(dir, { recursive: true, force: true });
    });
    let idReads = 0;
    const accepted = (mailbox: string, recipientDid: string, id: string) =>
      events.messageAccepted({
        mailbox,
        recipientDid,
        get dedupId() {
          idReads++;
          return id;
        },
        receivedAtMs: clock.nowMs(),
      });
    return { clock, queue, webhooks, accepted, innerGets: () => innerGets, idReads: () => idReads };
  }

  test("no webhook: nothing queued, the event id never derived, the registry asked once per DID", async () => {
    const s = setup();
    for (let i = 0; i < 5; i++) await s.accepted("did:example:bob", "did:example:bob", `k${i}`);
    expect(await s.queue.due(s.clock.nowMs(), 100)).toEqual([]);
    expect(s.idReads()).toBe(0);
    expect(s.innerGets()).toBe(1);
  });

  test("a webhook on the recipient DID, or on the client's own DID for another key, queues wh:<id> once per forward", async () => {
    const s = setup();
    await s.webhooks.put({ recipientDid: "did:example:bob", url: "http://127.0.0.1:9/hook", secret: SECRET });
    await s.webhooks.put({ recipientDid: "did:example:carol", url: "http://127.0.0.1:9/carol", secret: SECRET });
    await s.accepted("did:example:bob", "did:example:bob", "b1");
    await s.accepted("did:example:bob", "did:example:bob", "b2"); // cached path
    await s.accepted("did:example:carol", "did:example:carol#key-2", "c1"); // the key has none: the client's own hook
    await s.accepted("did:example:carol", "did:example:carol#key-2", "c2");
    const due = await s.queue.due(s.clock.nowMs(), 100);
    expect(due.map((e) => [e.id, e.url, e.mailbox])).toEqual([
      ["wh:b1", "http://127.0.0.1:9/hook", "did:example:bob"],
      ["wh:b2", "http://127.0.0.1:9/hook", "did:example:bob"],
      ["wh:c1", "http://127.0.0.1:9/carol", "did:example:carol"],
      ["wh:c2", "http://127.0.0.1:9/carol", "did:example:carol"],
    ]);
    expect(s.idReads()).toBe(4);
  });

  test("a webhook registered through this node is seen by the next forward (no stale cached 'none')", async () => {
    const s = setup();
    await s.accepted("did:example:dave", "did:example:dave", "d1");
    await s.webhooks.put({ recipientDid: "did:example:dave", url: "http://127.0.0.1:9/dave", secret: SECRET });
    await s.accepted("did:example:dave", "did:example:dave", "d2");
    expect((await s.queue.due(s.clock.nowMs(), 100)).map((e) => e.id)).toEqual(["wh:d2"]);
  });

  test("after the cache TTL the registry is asked again", async () => {
    const s = setup();
    await s.accepted("did:example:erin", "did:example:erin", "e1");
    s.clock.advance(60_000);
    await s.accepted("did:example:erin", "did:example:erin", "e2");
    expect(s.innerGets()).toBe(2);
  });
});
