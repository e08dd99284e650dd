// A forward to a recipient with a webhook is acknowledged only once its webhook event is in the durable queue. If the
// event cannot be queued, the forward is refused as retryable; the sender's retry is acknowledged, with one message
// stored and one event queued.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted } from "../../src/didcomm/pack/index.ts";
import type { EventQueue, NewDeliveryEvent } from "../../src/delivery/event-queue.ts";
import { SqliteEventQueue } from "../../src/delivery/sqlite-queue.ts";
import { SqliteWebhookStore } from "../../src/delivery/sqlite-webhook-store.ts";
import { DeliveryEvents } from "../../src/node/delivery-events.ts";
import { TYPES } from "../../src/protocols/index.ts";
import { ManualClock } from "../../src/runtime/index.ts";
import { World, type Agent } from "./harness.ts";

const SECRET = "s".repeat(32);

/** The real SQLite queue, with enqueue held at a gate or made to fail: what the forward's answer waits for. */
class HeldQueue {
  readonly real: SqliteEventQueue;
  mode: "hold" | "fail" | "pass" = "hold";
  calls = 0;
  #release: () => void = () => {};
  #gate: Promise<void> = new Promise((r) => (this.#release = r));
  #called: () => void = () => {};
  /** Resolves at the first enqueue call. */
  readonly called: Promise<void> = new Promise((r) => (this.#called = r));

  constructor(path: string, clock: ManualClock) {
    this.real = new SqliteEventQueue({ path, clock });
  }

  release(): void {
    this.#release();
  }

  /** The EventQueue DeliveryEvents writes to: every method is the real queue's, enqueue goes through the gate. */
  asQueue(): EventQueue {
    const enqueue = async (e: NewDeliveryEvent): Promise<boolean> => {
      this.calls++;
      this.#called();
      if (this.mode === "fail") throw new Error("event queue unavailable (injected)");
      if (this.mode === "hold") await this.#gate;
      return this.real.enqueue(e);
    };
    return new Proxy(this.real, {
      get: (target, prop, receiver) => {
        if (prop === "enqueue") return enqueue;
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as EventQueue;
  }
}

/** Lets every pending callback and promise run (two macrotask turns); no timer, no wall-clock wait. */
async function drainTurns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
}

describe("webhook event queued before the forward is acknowledged (sqlite)", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), "haven-event-ack-"));
    const clock = new ManualClock({ startMs: Date.UTC(2025, 5, 1) });
    const held = new HeldQueue(join(dir, "delivery.sqlite"), clock);
    const webhooks = new SqliteWebhookStore({ path: ":memory:", clock });
    const outbound = new DeliveryEvents({ queue: held.asQueue(), webhooks, partitions: 4, clock, coalesceMs: 0 });
    const w = new World({ driver: "sqlite", outbound });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => {
      held.real.close();
      webhooks.close();
    });
    cleanups.push(() => w.close());
    const recipient = w.mediatedAgent();
    expect((await w.ask(recipient, w.message(recipient, TYPES.mediateRequest))).replies[0]?.type).toBe(TYPES.mediateGrant);
    const { replies } = await w.ask(recipient, w.message(recipient, TYPES.keylistUpdate, { updates: [{ recipient_did: recipient.did, action: "add" }] }));
    expect((replies[0]!.body.updated as { result: string }[])[0]!.result).toBe("success");
    await webhooks.put({ recipientDid: recipient.did, url: "http://127.0.0.1:9/hook", secret: SECRET });
    return { w, held, recipient };
  }

  async function forwardFor(w: World, recipient: Agent): Promise<string> {
    const sender = w.agent();
    const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", from: sender.did, to: [recipient.did], body: { text: "hi" } };
    return (await packEncrypted(msg, recipient.did, sender.ctx, { from: sender.did })).packed;
  }

  test("the answer waits for the event's enqueue: nothing acknowledged while it is held, one event once it lands", async () => {
    const { w, held, recipient } = await setup();
    const packed = await forwardFor(w, recipient);
    let settled = false;
    const answer = w.receive(packed).then((o) => {
      settled = true;
      return o;
    });
    await held.called;
    await drainTurns(); // an answer that did not wait for the enqueue would have settled by now
    expect(settled).toBe(false);
    expect(await held.real.size()).toBe(0);
    held.release();
    const outcome = await answer;
    expect(outcome.kind).toBe("accepted");
    const due = await held.real.due(w.clock.nowMs() + 1, 10);
    expect(due.length).toBe(1);
    expect(due[0]!.id.startsWith("wh:")).toBe(true);
    expect(due[0]!.mailbox).toBe(recipient.did);
    expect((await w.mailbox.stats(recipient.did)).count).toBe(1);
  });

  test("the enqueue fails: a retryable 503, and the retry is acknowledged with one message and one event", async () => {
    const { w, held, recipient } = await setup();
    const packed = await forwardFor(w, recipient);
    held.mode = "fail";
    const refused = await w.receive(packed);
    expect(refused.kind).toBe("rejected");
    expect(refused.kind === "rejected" && refused.httpStatus).toBe(503);
    expect(await held.real.size()).toBe(0);
    // The message itself was stored before the event failed; the retry must neither store it twice nor lose the event.
    held.mode = "pass";
    expect((await w.receive(packed)).kind).toBe("accepted");
    expect((await w.mailbox.stats(recipient.did)).count).toBe(1);
    const due = await held.real.due(w.clock.nowMs() + 1, 10);
    expect(due.map((e) => e.id.startsWith("wh:"))).toEqual([true]);
    // A third copy (a sender retrying after a lost 202) queues nothing new: the event id is the forward's.
    expect((await w.receive(packed)).kind).toBe("accepted");
    expect(await held.real.size()).toBe(1);
    expect(held.calls).toBe(3);
  });
});
