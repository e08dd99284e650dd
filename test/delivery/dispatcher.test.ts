// The dispatcher against a real local HTTP endpoint: signing, concurrency limit, timeout, retries with backoff, DLQ and replay, breaker gating.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/runtime/clock.ts";
import { seededRandom, type Random } from "../../src/runtime/random.ts";
import {
  DeliveryCounters,
  Dispatcher,
  DistributedBreaker,
  SqliteEventQueue,
  verifySignature,
  webhookBody,
  webhookPreparer,
  type DispatcherOptions,
  type NewDeliveryEvent,
} from "../../src/delivery/index.ts";
import { startEndpointServer, type EndpointMode, type EndpointServer } from "../support/endpoint-server.ts";

const SECRET = "test-webhook-secret-0123456789";
/** A Random at its maximum: full jitter then yields exactly the backoff ceilings. */
const TOP: Random = { next: () => 0.999, int: (n) => n - 1, bytes: (n) => seededRandom(7).bytes(n) };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  clock: ManualClock;
  queue: SqliteEventQueue;
  endpoint: EndpointServer;
  metrics: DeliveryCounters;
  dispatcher: Dispatcher;
  breaker: DistributedBreaker;
  enqueue(n: number, prefix?: string): Promise<string[]>;
  /** Runs passes, advancing the clock to the next due time in between, until the queue is empty or `maxPasses`. */
  drain(maxPasses?: number): Promise<number[]>;
}

function rig(mode: EndpointMode, opts: Partial<DispatcherOptions> & { threshold?: number; openMs?: number } = {}): Rig {
  const clock = new ManualClock();
  const dir = mkdtempSync(join(tmpdir(), "haven-dispatch-"));
  const queue = new SqliteEventQueue({ path: join(dir, "delivery.sqlite"), clock });
  const endpoint = startEndpointServer(mode);
  const metrics = new DeliveryCounters();
  const breaker = new DistributedBreaker({ nodeId: "n1", clock, failureThreshold: opts.threshold ?? 5, openMs: opts.openMs ?? 60_000, recheckMs: 100, onTransition: (t) => metrics.breakerTransition(t) });
  const dispatcher = new Dispatcher({
    queue,
    dlq: queue,
    breaker,
    clock,
    random: seededRandom(1),
    retry: { baseMs: 1000, capMs: 60_000, maxAttempts: 4 },
    callTimeoutMs: 5000,
    prepare: webhookPreparer(async (ref) => (ref === "did:example:bob" ? SECRET : null)),
    metrics,
    ...opts,
  });
  cleanups.push(async () => {
    await dispatcher.stop();
    breaker.close();
    queue.close();
    await endpoint.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  let no = 0;
  return {
    clock,
    queue,
    endpoint,
    metrics,
    dispatcher,
    breaker,
    async enqueue(n, prefix = "evt") {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const id = `${prefix}-${++no}`;
        const e: NewDeliveryEvent = {
          id,
          kind: "webhook",
          mailbox: "did:example:bob",
          partition: 3,
          url: `${endpoint.url}/hook`,
          body: webhookBody({ eventId: id, recipientDid: "did:example:bob", messageCount: 1, createdAtMs: clock.nowMs() }),
          contentType: "application/json",
          signingRef: "did:example:bob",
        };
        expect(await queue.enqueue(e)).toBe(true);
        ids.push(id);
      }
      return ids;
    },
    async drain(maxPasses = 100) {
      const passTimes: number[] = [];
      for (let i = 0; i < maxPasses; i++) {
        const next = await queue.nextDueAtMs();
        if (next === null) return passTimes;
        if (next > clock.nowMs()) clock.advance(next - clock.nowMs());
        passTimes.push(clock.nowMs());
        await dispatcher.runOnce();
      }
      throw new Error("queue did not drain");
    },
  };
}

describe("Dispatcher", () => {
  // A 2xx whose completion the queue cannot record (its store down) must not be re-sent on every pass: the endpoint
  // sees one request, and the completion is retried until it is written.
  test("a delivered event whose completion fails is not sent again; its completion is retried", async () => {
    const r = rig({ kind: "succeed" });
    const [id] = await r.enqueue(1);
    const complete = r.queue.complete.bind(r.queue);
    let failures = 3;
    r.queue.complete = async (eventId: string) => {
      if (failures > 0) {
        failures--;
        throw new Error("store unavailable");
      }
      return complete(eventId);
    };
    await r.drain();
    expect(r.endpoint.requests.map((q) => q.idempotencyKey)).toEqual([id!]);
    expect(failures).toBe(0);
    expect(await r.queue.size()).toBe(0);
    expect(r.metrics.snapshot().outcomes.delivered).toBe(1);
  });

  test("healthy endpoint: every event delivered once, signed, with its id as Idempotency-Key", async () => {
    const r = rig({ kind: "succeed" }, { concurrencyPerDestination: 8 });
    const ids = await r.enqueue(25);
    await r.drain();
    const reqs = r.endpoint.requests;
    expect(reqs.length).toBe(25);
    expect(new Set(reqs.map((q) => q.idempotencyKey))).toEqual(new Set(ids));
    for (const q of reqs) {
      expect(q.method).toBe("POST");
      expect(verifySignature(SECRET, q.body, q.headers["x-haven-signature"])).toBe(true);
      expect(q.headers["x-haven-timestamp"]).toMatch(/^\d+$/);
      const body = JSON.parse(new TextDecoder().decode(q.body));
      expect(body.event_id).toBe(q.idempotencyKey);
      expect(Object.keys(body).sort()).toEqual(["created_at", "event_id", "message_count", "recipient_did", "type"]);
    }
    expect(await r.queue.size()).toBe(0);
    // More than threshold (5) calls at once are refused as "saturated" by the breaker's reservations:
    // those events wait (deferred), which is not an attempt.
    expect(r.metrics.snapshot().outcomes.delivered).toBe(25);
    expect(r.metrics.snapshot().attempts).toEqual({ success: 25 });
  });

  test("per-destination concurrency limit: a pass starts at most the limit; the rest wait for the next pass", async () => {
    const r = rig({ kind: "hang" }, { concurrencyPerDestination: 3 });
    await r.enqueue(10);
    const pass = r.dispatcher.runOnce();
    await r.endpoint.waitForRequests(3);
    expect(r.dispatcher.inFlight).toBe(3);
    r.endpoint.setMode({ kind: "succeed" });
    r.endpoint.releaseHung(200);
    expect(await pass).toBe(3);
    expect(r.endpoint.requests.length).toBe(3);
    await r.drain();
    expect(r.endpoint.successes().length).toBe(10);
    expect(new Set(r.endpoint.requests.map((q) => q.idempotencyKey)).size).toBe(10);
  });

  test("a hanging call is aborted at callTimeoutMs and retried later (timeout is retryable)", async () => {
    const r = rig({ kind: "hang" }, { callTimeoutMs: 5000 });
    const [id] = await r.enqueue(1);
    const pass = r.dispatcher.runOnce();
    await r.endpoint.waitForRequests(1);
    r.clock.advance(5000);
    await pass;
    const [ev] = await r.queue.due(r.clock.nowMs() + 60_000, 10);
    expect(ev).toMatchObject({ id, attempts: 1, lastError: "timeout" });
    expect(r.metrics.snapshot().attempts).toEqual({ timeout: 1 });
  });

  test("always failing: exactly maxAttempts attempts with growing gaps, then DLQ; replay delivers once after recovery", async () => {
    const r = rig({ kind: "fail", status: 503 }, { random: TOP, threshold: 10 });
    const id = (await r.enqueue(1))[0]!;
    const passTimes = await r.drain();
    expect(r.endpoint.requests.length).toBe(4);
    expect(r.endpoint.requests.every((q) => q.idempotencyKey === id)).toBe(true);
    const gaps = passTimes.slice(1).map((t, i) => t - passTimes[i]!);
    expect(gaps).toEqual([1000, 2000, 4000]);
    const dlq = await r.queue.list();
    expect(dlq.items.map((d) => [d.id, d.attempts, d.reason])).toEqual([[id, 4, "attempts_exhausted_http_503"]]);
    expect(r.metrics.snapshot().outcomes).toEqual({ retry_scheduled: 3, dead_lettered: 1 });
    expect(r.metrics.snapshot().dlqSize).toBe(1);

    r.endpoint.setMode({ kind: "succeed" });
    expect(await r.queue.replay("all", r.clock.nowMs())).toBe(1);
    await r.drain();
    expect(r.endpoint.requests.length).toBe(5);
    expect(r.endpoint.successes().map((q) => q.idempotencyKey)).toEqual([id]);
    expect((await r.queue.list()).items).toEqual([]);
  });

  test("permanent 4xx goes to the DLQ after one attempt; unregistered webhooks are cancelled without a request", async () => {
    const r = rig({ kind: "fail", status: 410 });
    const id = (await r.enqueue(1))[0]!;
    await r.drain();
    expect(r.endpoint.requests.length).toBe(1);
    expect((await r.queue.list()).items.map((d) => [d.id, d.reason])).toEqual([[id, "permanent_http_410"]]);

    await r.queue.enqueue({ id: "orphan", kind: "webhook", mailbox: "m", partition: 0, url: `${r.endpoint.url}/x`, body: new Uint8Array(1), contentType: "application/json", signingRef: "did:example:nobody" });
    await r.drain();
    expect(r.endpoint.requests.length).toBe(1);
    expect(r.metrics.snapshot().outcomes.cancelled).toBe(1);
  });

  test("breaker: fail-after-K endpoint sees K successes then exactly threshold failures, nothing while open; one probe, then the rest once each", async () => {
    const r = rig({ kind: "failAfter", k: 3 }, { threshold: 5, openMs: 60_000, concurrencyPerDestination: 10, retry: { baseMs: 100, capMs: 100, maxAttempts: 20 } });
    const ids = await r.enqueue(30);
    await r.dispatcher.runOnce(); // 5 admitted (reserved slots), the rest deferred
    await r.dispatcher.runOnce();
    for (let i = 0; i < 10 && r.endpoint.failures().length < 5; i++) {
      r.clock.advance(100);
      await r.dispatcher.runOnce();
    }
    expect(r.endpoint.successes().length).toBe(3);
    expect(r.endpoint.failures().length).toBe(5);
    expect(r.metrics.snapshot().transitions).toEqual({ "closed->open": 1 });
    // Open: passes before openMs send nothing; waiting is not an attempt.
    const seen = r.endpoint.requests.length;
    for (let i = 0; i < 5; i++) {
      r.clock.advance(10_000);
      await r.dispatcher.runOnce();
    }
    expect(r.endpoint.requests.length).toBe(seen);
    const waiting = await r.queue.due(r.clock.nowMs() + 10 ** 9, 100);
    expect(waiting.length).toBe(27);
    expect(waiting.filter((e) => e.attempts > 0).length).toBe(5);

    r.endpoint.setMode({ kind: "succeed" });
    await r.drain();
    expect(r.metrics.snapshot().transitions).toEqual({ "closed->open": 1, "open->half-open": 1, "half-open->closed": 1 });
    // Exactly one request after the failures was the probe (it came alone), then the rest.
    expect(r.endpoint.requests.length).toBe(seen + 27);
    const okKeys = r.endpoint.successes().map((q) => q.idempotencyKey);
    expect(okKeys.length).toBe(30);
    expect(new Set(okKeys)).toEqual(new Set(ids));
  });
});

describe("Dispatcher background loop", () => {
  test("start(): delivers what is enqueued after wake(), and stop() waits for calls in flight", async () => {
    const r = rig({ kind: "succeed" }, { clock: undefined });
    await r.enqueue(5);
    r.dispatcher.start();
    await r.endpoint.waitForRequests(5);
    await r.dispatcher.stop();
    expect(new Set(r.endpoint.requests.map((q) => q.idempotencyKey)).size).toBe(5);
  });
});
