// Dispatcher fencing on partition loss: no call starts once the partition is not owned; fence() lets in-flight calls record their 2xx, aborts overrunning ones without counting them.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliveryCounters, Dispatcher, DistributedBreaker, SqliteEventQueue, type NewDeliveryEvent } from "../../src/delivery/index.ts";
import { startEndpointServer, type EndpointMode, type EndpointServer } from "../support/endpoint-server.ts";

const PARTITION = 7;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  queue: SqliteEventQueue;
  endpoint: EndpointServer;
  metrics: DeliveryCounters;
  dispatcher: Dispatcher;
  breaker: DistributedBreaker;
  /** What owns(PARTITION) answers (the lease): set false before fence(), as LeaseManager does before onLost. */
  owned: { value: boolean };
  enqueue(id: string): Promise<void>;
}

function rig(mode: EndpointMode): Rig {
  const dir = mkdtempSync(join(tmpdir(), "haven-fence-"));
  const queue = new SqliteEventQueue({ path: join(dir, "delivery.sqlite") });
  const endpoint = startEndpointServer(mode);
  const metrics = new DeliveryCounters();
  const breaker = new DistributedBreaker({ nodeId: "n1", failureThreshold: 3, openMs: 60_000 });
  const owned = { value: true };
  const dispatcher = new Dispatcher({
    queue,
    dlq: queue,
    breaker,
    retry: { baseMs: 1000, capMs: 60_000, maxAttempts: 4 },
    callTimeoutMs: 30_000,
    owns: (p) => p !== PARTITION || owned.value,
    metrics,
  });
  cleanups.push(async () => {
    endpoint.releaseHung(200);
    await dispatcher.stop();
    breaker.close();
    queue.close();
    await endpoint.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    queue,
    endpoint,
    metrics,
    dispatcher,
    breaker,
    owned,
    async enqueue(id) {
      const e: NewDeliveryEvent = { id, kind: "webhook", mailbox: "did:example:m", partition: PARTITION, url: `${endpoint.url}/hook`, body: new Uint8Array([1]), contentType: "application/json" };
      expect(await queue.enqueue(e)).toBe(true);
    },
  };
}

describe("Dispatcher fencing", () => {
  test("a partition not owned at call time: no request is made, the breaker slot is handed back, the event stays pending", async () => {
    const r = rig({ kind: "succeed" });
    await r.enqueue("e1");
    r.owned.value = false;
    expect(await r.dispatcher.runOnce()).toBe(1);
    expect(r.endpoint.requests.length).toBe(0);
    expect(await r.queue.size()).toBe(1);
    expect(r.dispatcher.fenceStats.skippedCalls).toBe(1);
    const s = await r.breaker.snapshot(`http://127.0.0.1:${r.endpoint.port}`);
    expect({ inFlight: s.inFlight, failures: s.failures, phase: s.phase }).toEqual({ inFlight: 0, failures: 0, phase: "closed" });
    expect(r.metrics.snapshot().attempts).toEqual({});
    expect(r.metrics.snapshot().outcomes).toEqual({});
  });

  test("fence() waits for an in-flight call: its 2xx is recorded (event completed, counted once) before fence resolves", async () => {
    const r = rig({ kind: "hang" });
    await r.enqueue("e2");
    const pass = r.dispatcher.runOnce();
    await r.endpoint.waitForRequests(1);
    r.owned.value = false;
    const fencing = r.dispatcher.fence(PARTITION, 30_000);
    r.endpoint.releaseHung(200);
    expect(await fencing).toEqual({ finished: 1, aborted: 0, unsettled: 0 });
    // Recorded by the time fence resolved: nothing is left for a next owner to send.
    expect(await r.queue.size()).toBe(0);
    expect(r.metrics.snapshot().outcomes).toEqual({ delivered: 1 });
    await pass;
    expect(r.endpoint.requests.length).toBe(1);
  });

  test("fence() aborts a call that overruns its budget: no outcome or attempt counted, no breaker failure, the event stays pending for the next owner", async () => {
    const r = rig({ kind: "hang" });
    await r.enqueue("e3");
    const pass = r.dispatcher.runOnce();
    await r.endpoint.waitForRequests(1);
    r.owned.value = false;
    const res = await r.dispatcher.fence(PARTITION, 300);
    expect(res.aborted).toBe(1);
    await pass;
    expect(r.dispatcher.inFlight).toBe(0);
    expect(r.dispatcher.fenceStats.abortedCalls).toBe(1);
    expect(await r.queue.size()).toBe(1);
    const [ev] = await r.queue.due(Date.now() + 1, 10);
    expect(ev?.attempts).toBe(0);
    expect(r.metrics.snapshot().attempts).toEqual({});
    expect(r.metrics.snapshot().outcomes).toEqual({});
    const s = await r.breaker.snapshot(`http://127.0.0.1:${r.endpoint.port}`);
    expect({ inFlight: s.inFlight, failures: s.failures }).toEqual({ inFlight: 0, failures: 0 });
  });

  test("fence() of a partition with nothing in flight resolves at once and leaves other partitions alone", async () => {
    const r = rig({ kind: "succeed" });
    expect(await r.dispatcher.fence(PARTITION, 1000)).toEqual({ finished: 0, aborted: 0, unsettled: 0 });
    expect(await r.dispatcher.fence(PARTITION + 1, 1000)).toEqual({ finished: 0, aborted: 0, unsettled: 0 });
    expect(r.dispatcher.fenceStats.fences).toBe(0);
  });
});
