// The distributed breaker against a real nats-server: exact cluster-wide threshold, one probe, fallback and reconciliation.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { ManualClock } from "../../src/runtime/clock.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import {
  Dispatcher,
  DistributedBreaker,
  KvBreakerStore,
  SqliteEventQueue,
  destinationOf,
  type BreakerMode,
  type BreakerTransition,
} from "../../src/delivery/index.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { startEndpointServer } from "../support/endpoint-server.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats, destroyBucket, freshBucket, nextStatus } from "./helpers.ts";

const NODES = 4;
const WORKERS_PER_NODE = 10;
const THRESHOLD = 5;
const OPEN_MS = 300_000;
const DEST = destinationOf("https://hooks.example.com/webhook");

let nats: NatsCluster;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  for (let i = 0; i < NODES; i++) conns.push(await connectNats(nats.url));
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await nats?.stop();
});

interface Node {
  breaker: DistributedBreaker;
  transitions: BreakerTransition[];
}

async function makeNodes(bucket: string, clock: ManualClock): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < NODES; i++) {
    const shared = await KvBreakerStore.open(conns[i]!, { bucket, timeoutMs: 2000, clock: systemClock });
    const transitions: BreakerTransition[] = [];
    const breaker = new DistributedBreaker({
      nodeId: `n${i + 1}`,
      shared,
      clock,
      failureThreshold: THRESHOLD,
      openMs: OPEN_MS,
      onTransition: (t) => transitions.push(t),
    });
    nodes.push({ breaker, transitions });
  }
  return nodes;
}

/** Every worker on every node asks until it is refused as open/probing; admitted calls fail (the destination is down). */
async function hammer(nodes: Node[], outcome: boolean) {
  let admitted = 0;
  let probes = 0;
  await Promise.all(
    nodes.flatMap((n) =>
      Array.from({ length: WORKERS_PER_NODE }, async () => {
        for (let i = 0; i < 1000; i++) {
          const a = await n.breaker.acquire(DEST);
          if (a.admitted) {
            admitted++;
            if (a.permit.kind === "probe") probes++;
            await n.breaker.release(a.permit, outcome);
            continue;
          }
          if (a.reason === "open" || a.reason === "probing") return;
          // saturated / contention: slots are held by calls about to complete; ask again.
        }
        throw new Error("worker never saw the breaker refuse");
      }),
    ),
  );
  return { admitted, probes };
}

function allTransitions(nodes: Node[]): BreakerTransition[] {
  return nodes.flatMap((n) => n.transitions).sort((a, b) => a.atMs - b.atMs);
}

describe("distributed breaker on NATS KV", () => {
  test("4 nodes: exactly threshold failing calls admitted before open, then one probe cluster-wide", async () => {
    const bucket = freshBucket();
    const clock = new ManualClock();
    const nodes = await makeNodes(bucket, clock);
    try {
      const first = await hammer(nodes, false);
      expect(first.admitted).toBe(THRESHOLD);
      const opened = allTransitions(nodes);
      expect(opened.map((t) => `${t.from}->${t.to}`)).toEqual(["closed->open"]);
      expect(opened[0]!.failures).toBe(THRESHOLD);
      expect((await nodes[0]!.breaker.snapshot(DEST)).phase).toBe("open");

      // Still open just before openMs: nothing admitted anywhere, and the retry hint is the reopening time.
      clock.advance(OPEN_MS - 1);
      const early = await nodes[2]!.breaker.acquire(DEST);
      expect(early.admitted).toBe(false);
      if (!early.admitted) {
        expect(early.reason).toBe("open");
        expect(early.retryAtMs).toBe(opened[0]!.atMs + OPEN_MS);
      }

      // Half-open: all 40 workers race; exactly one probe is admitted; it fails -> open again.
      clock.advance(1);
      const second = await hammer(nodes, false);
      expect(second).toEqual({ admitted: 1, probes: 1 });
      expect(allTransitions(nodes).map((t) => `${t.from}->${t.to}`)).toEqual(["closed->open", "open->half-open", "half-open->open"]);

      // Again after openMs: one probe, it succeeds -> closed; then calls flow again.
      clock.advance(OPEN_MS);
      const racers = await Promise.all(nodes.flatMap((n) => Array.from({ length: WORKERS_PER_NODE }, () => n.breaker.acquire(DEST).then((a) => ({ n, a })))));
      const winners = racers.filter((r) => r.a.admitted);
      expect(winners.length).toBe(1);
      const w = winners[0]!;
      if (!w.a.admitted) throw new Error("unreachable");
      expect(w.a.permit.kind).toBe("probe");
      for (const r of racers) if (!r.a.admitted) expect(r.a.reason).toBe("probing");
      await w.n.breaker.release(w.a.permit, true);
      expect(allTransitions(nodes).map((t) => t.to)).toEqual(["open", "half-open", "open", "half-open", "closed"]);
      const after = await nodes[3]!.breaker.acquire(DEST);
      expect(after.admitted).toBe(true);
      if (after.admitted) expect(after.permit.kind).toBe("call");
    } finally {
      for (const n of nodes) n.breaker.close();
      await destroyBucket(conns[0]!, bucket);
    }
  });

  test("admission reserves slots: with threshold calls in flight a 6th is refused on every node", async () => {
    const bucket = freshBucket();
    const clock = new ManualClock();
    const nodes = await makeNodes(bucket, clock);
    try {
      const held = await Promise.all(nodes.flatMap((n) => [n.breaker.acquire(DEST), n.breaker.acquire(DEST)]));
      const admitted = held.filter((a) => a.admitted);
      expect(admitted.length).toBe(THRESHOLD);
      for (const a of held) if (!a.admitted) expect(a.reason).toBe("saturated");
      // A success of the latest admission clears only earlier failures; here all 5 fail -> open, exactly once.
      for (const a of admitted) if (a.admitted) await nodes[0]!.breaker.release(a.permit, false);
      const t = allTransitions(nodes);
      expect(t.length).toBe(1);
      expect(t[0]!.to).toBe("open");
    } finally {
      for (const n of nodes) n.breaker.close();
      await destroyBucket(conns[0]!, bucket);
    }
  });

  test("a dead node's reservations lapse after holderTtlMs", async () => {
    const bucket = freshBucket();
    const clock = new ManualClock();
    const nodes = await makeNodes(bucket, clock);
    try {
      for (let i = 0; i < THRESHOLD; i++) expect((await nodes[0]!.breaker.acquire(DEST)).admitted).toBe(true);
      // node 1 "dies" holding all slots
      const refused = await nodes[1]!.breaker.acquire(DEST);
      expect(refused.admitted).toBe(false);
      clock.advance(120_000);
      const freed = await nodes[1]!.breaker.acquire(DEST);
      expect(freed.admitted).toBe(true);
      expect((await nodes[1]!.breaker.snapshot(DEST)).inFlight).toBe(1);
    } finally {
      for (const n of nodes) n.breaker.close();
      await destroyBucket(conns[0]!, bucket);
    }
  });
});

describe("fallback when KV is unreachable", () => {
  test("KV down -> in-memory breaker keeps deciding -> KV back -> local open state merged into the shared record", async () => {
    const server = await startNatsServer();
    const ncA = await connectNats(server.url);
    const ncB = await connectNats(server.url);
    const bucket = freshBucket();
    const clock = new ManualClock();
    const modes: BreakerMode[] = [];
    const tA: BreakerTransition[] = [];
    const storeA = await KvBreakerStore.open(ncA, { bucket, timeoutMs: 300, clock: systemClock });
    const storeB = await KvBreakerStore.open(ncB, { bucket, timeoutMs: 300, clock: systemClock });
    const a = new DistributedBreaker({ nodeId: "a", shared: storeA, clock, failureThreshold: THRESHOLD, openMs: OPEN_MS, onTransition: (t) => tA.push(t), onModeChange: (m) => modes.push(m) });
    const b = new DistributedBreaker({ nodeId: "b", shared: storeB, clock, failureThreshold: THRESHOLD, openMs: OPEN_MS });
    try {
      // Two shared failures recorded before the outage.
      for (let i = 0; i < 2; i++) {
        const p = await a.acquire(DEST);
        if (!p.admitted) throw new Error("expected admission");
        await a.release(p.permit, false);
      }
      expect((await b.snapshot(DEST)).failures).toBe(2);

      const disconnected = Promise.all([nextStatus(ncA, "disconnect"), nextStatus(ncB, "disconnect")]);
      await server.servers[0]!.kill();
      await disconnected;

      // Fallback: decisions continue locally with the same rules: exactly threshold admitted, then open.
      let admitted = 0;
      for (let i = 0; i < 20; i++) {
        const p = await a.acquire(DEST);
        if (!p.admitted) {
          expect(p.reason).toBe("open");
          break;
        }
        expect(p.permit.store).toBe("local");
        admitted++;
        await a.release(p.permit, false);
      }
      expect(admitted).toBe(THRESHOLD);
      expect(a.mode).toBe("local");
      expect(modes).toEqual(["local"]);
      expect(tA.at(-1)).toMatchObject({ from: "closed", to: "open", store: "local" });

      const reconnected = Promise.all([nextStatus(ncA, "reconnect"), nextStatus(ncB, "reconnect")]);
      await server.servers[0]!.restart();
      await reconnected;
      for (let i = 0; i < 50 && !(await a.reconcileNow()); i++) await nextTick();
      expect(a.mode).toBe("shared");
      expect(modes).toEqual(["local", "shared"]);
      // The other node now sees the breaker open, with the local opening time.
      const snap = await b.snapshot(DEST);
      expect(snap.phase).toBe("open");
      expect(snap.openedAtMs).toBe(tA.at(-1)!.atMs);
      const refused = await b.acquire(DEST);
      expect(refused.admitted).toBe(false);
      expect(tA.at(-1)).toMatchObject({ from: "closed", to: "open", reason: "reconcile", store: "shared" });
    } finally {
      a.close();
      b.close();
      await ncA.close().catch(() => {});
      await ncB.close().catch(() => {});
      await server.stop();
    }
  });

  test("local closed failures are added to the shared count on reconcile", async () => {
    const server = await startNatsServer();
    const nc = await connectNats(server.url);
    const bucket = freshBucket();
    const clock = new ManualClock();
    const store = await KvBreakerStore.open(nc, { bucket, timeoutMs: 300, clock: systemClock });
    const a = new DistributedBreaker({ nodeId: "a", shared: store, clock, failureThreshold: THRESHOLD, openMs: OPEN_MS });
    try {
      const p0 = await a.acquire(DEST);
      if (!p0.admitted) throw new Error("expected admission");
      await a.release(p0.permit, false); // shared: 1 failure
      const disconnected = nextStatus(nc, "disconnect");
      await server.servers[0]!.kill();
      await disconnected;
      for (let i = 0; i < 3; i++) {
        const p = await a.acquire(DEST);
        if (!p.admitted) throw new Error("expected local admission");
        expect(p.permit.store).toBe("local");
        await a.release(p.permit, false);
      }
      const reconnected = nextStatus(nc, "reconnect");
      await server.servers[0]!.restart();
      await reconnected;
      for (let i = 0; i < 50 && !(await a.reconcileNow()); i++) await nextTick();
      const snap = await a.snapshot(DEST);
      expect(snap).toMatchObject({ store: "shared", phase: "closed", failures: 4 });
    } finally {
      a.close();
      await nc.close().catch(() => {});
      await server.stop();
    }
  });
});

describe("dispatcher keeps delivering while KV is down", () => {
  test("NATS killed mid-run: every event delivered exactly once through the local breaker; shared again after", async () => {
    const server = await startNatsServer();
    const nc = await connectNats(server.url);
    const endpoint = startEndpointServer({ kind: "succeed" });
    const dir = mkdtempSync(join(tmpdir(), "haven-dispatch-kv-"));
    const queue = new SqliteEventQueue({ path: join(dir, "delivery.sqlite") });
    const store = await KvBreakerStore.open(nc, { bucket: freshBucket(), timeoutMs: 300 });
    const breaker = new DistributedBreaker({ nodeId: "a", shared: store, probeIntervalMs: 50 });
    const dispatcher = new Dispatcher({ queue, breaker, concurrencyPerDestination: 5 });
    const enqueue = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        await queue.enqueue({ id: `e${i}`, kind: "push", mailbox: "m", partition: 0, url: `${endpoint.url}/didcomm`, body: new Uint8Array([i & 0xff]), contentType: "application/didcomm-encrypted+json" });
      }
    };
    const drain = async () => {
      // Local concurrency (5) never exceeds the threshold, so no event is deferred: each pass makes progress.
      while ((await queue.size()) > 0) expect(await dispatcher.runOnce()).toBeGreaterThan(0);
    };
    try {
      await enqueue(0, 20);
      await drain();
      expect(breaker.mode).toBe("shared");
      const disconnected = nextStatus(nc, "disconnect");
      await server.servers[0]!.kill();
      await disconnected;
      await enqueue(20, 20);
      await drain();
      expect(breaker.mode).toBe("local");
      const reconnected = nextStatus(nc, "reconnect");
      await server.servers[0]!.restart();
      await reconnected;
      for (let i = 0; i < 50 && !(await breaker.reconcileNow()); i++) await nextTick();
      await enqueue(40, 20);
      await drain();
      expect(breaker.mode).toBe("shared");
      const keys = endpoint.requests.map((q) => q.idempotencyKey);
      expect(keys.length).toBe(60);
      expect(new Set(keys).size).toBe(60);
      expect(await queue.size()).toBe(0);
    } finally {
      await dispatcher.stop();
      breaker.close();
      queue.close();
      await endpoint.stop();
      rmSync(dir, { recursive: true, force: true });
      await nc.close().catch(() => {});
      await server.stop();
    }
  });
});

function nextTick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
