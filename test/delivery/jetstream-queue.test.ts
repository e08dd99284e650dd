// JetStream event queue against a real nats-server: dedup, owner-only dispatch, owner change mid-stream, CAS fencing, cluster DLQ, SQLite outbox fallback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { DeliveryError, Dispatcher, DistributedBreaker, JetStreamEventQueue, SqliteEventQueue, type NewDeliveryEvent } from "../../src/delivery/index.ts";
import { startEndpointServer } from "../support/endpoint-server.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { connectNats, freshBucket } from "./helpers.ts";

let nats: NatsCluster;
let nc1: NatsConnection;
let nc2: NatsConnection;
const dirs: string[] = [];
const FAR = Date.now() + 10 * 86_400_000;

beforeAll(async () => {
  nats = await startNatsServer();
  nc1 = await connectNats(nats.url);
  nc2 = await connectNats(nats.url);
});

afterAll(async () => {
  await nc1?.close().catch(() => {});
  await nc2?.close().catch(() => {});
  await nats?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function outbox(): SqliteEventQueue {
  const dir = mkdtempSync(join(tmpdir(), "haven-jsq-"));
  dirs.push(dir);
  return new SqliteEventQueue({ path: join(dir, "outbox.sqlite") });
}

/** Two queue instances (two "nodes") over the same streams, on separate connections. */
async function pair(extra: { publishTimeoutMs?: number } = {}) {
  const names = { streamName: freshBucket("EV"), dlqStreamName: freshBucket("DLQ"), stateBucket: freshBucket("st"), subjectRoot: freshBucket("root"), replicas: 1, partitionCount: 8, ...extra };
  const a = new JetStreamEventQueue(nc1, outbox(), names);
  const b = new JetStreamEventQueue(nc2, outbox(), names);
  await a.start();
  await b.start();
  return { a, b };
}

function ev(id: string, partition: number): NewDeliveryEvent {
  return { id, kind: "webhook", mailbox: `did:example:${partition}`, partition, url: "https://hooks.example/h", body: new TextEncoder().encode(`{"id":"${id}"}`), contentType: "application/json", signingRef: "did:example:r" };
}

const P = (...ps: number[]) => ({ partitions: new Set(ps) });

describe("JetStreamEventQueue", () => {
  test("enqueue dedups by id; only owned partitions are served; complete removes for good", async () => {
    const { a, b } = await pair();
    expect(await a.enqueue(ev("e1", 1))).toBe(true);
    expect(await b.enqueue(ev("e1", 1))).toBe(false); // same id from another node: one event
    expect(await b.enqueue(ev("e2", 2))).toBe(true);
    const owned1 = await a.due(FAR, 100, P(1));
    expect(owned1.map((e) => e.id)).toEqual(["e1"]);
    expect(owned1[0]!.destination).toBe("https://hooks.example:443");
    expect(new TextDecoder().decode(owned1[0]!.body)).toBe('{"id":"e1"}');
    expect((await b.due(FAR, 100, P(2))).map((e) => e.id)).toEqual(["e2"]);
    await a.complete("e1");
    expect(await a.due(FAR, 100, P(1))).toEqual([]);
    await expect(a.complete("e2")).rejects.toBeInstanceOf(DeliveryError); // not this node's partition
    await a.close();
    await b.close();
  });

  test("owner change mid-stream: the new owner continues with persisted attempts and never sees completed or dead events", async () => {
    const { a, b } = await pair();
    const ids = Array.from({ length: 20 }, (_, i) => `ev-${i}`);
    for (const [i, id] of ids.entries()) await (i % 2 ? a : b).enqueue(ev(id, i % 4));
    const all = P(0, 1, 2, 3);
    const first = await a.due(FAR, 100, all);
    expect(first.map((e) => e.id).sort()).toEqual([...ids].sort());
    const now = Date.now();
    for (const id of ids.slice(0, 5)) await a.complete(id);
    for (const id of ids.slice(5, 10)) await a.reschedule(id, now + 60_000, 2, "http_503");
    await a.deadLetter("ev-10", "attempts_exhausted_http_503", 5);
    // Ownership moves: a stops serving, b takes over.
    expect(await a.due(FAR, 100, P())).toEqual([]);
    const taken = await b.due(FAR, 100, all);
    expect(taken.map((e) => e.id).sort()).toEqual(ids.slice(5, 10).concat(ids.slice(11)).sort());
    for (const e of taken.filter((x) => ids.slice(5, 10).includes(x.id))) {
      expect(e.attempts).toBe(2);
      expect(e.nextAtMs).toBe(now + 60_000);
      expect(e.lastError).toBe("http_503");
    }
    // Not yet due ones wait; the earliest is reported for the dispatcher's timer.
    expect((await b.due(now + 1000, 100, all)).map((e) => e.id).sort()).toEqual(ids.slice(11).sort());
    expect(await b.nextDueAtMs(P(1))).not.toBeNull();
    expect((await b.list()).items.map((d) => d.id)).toEqual(["ev-10"]);
    await a.close();
    await b.close();
  });

  test("a deposed owner still holding the partition cannot overwrite the new owner's schedule (CAS fence); its recorded 2xx still counts", async () => {
    const { a, b } = await pair();
    await a.enqueue(ev("f1", 3));
    await a.due(FAR, 10, P(3));
    await a.reschedule("f1", FAR - 5, 1, "timeout");
    await b.due(FAR, 10, P(3)); // b loads revision after a's write
    await b.reschedule("f1", FAR - 4, 2, "timeout");
    const err = await a.reschedule("f1", FAR - 3, 9, "timeout").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).code).toBe("fenced");
    const again = await b.due(FAR, 10, P(3));
    expect(again.map((e) => [e.id, e.attempts])).toEqual([["f1", 2]]);
    // A 2xx the deposed owner got is still recorded (it happened): the new owner's copy goes at its next write.
    await a.complete("f1");
    expect(((await b.reschedule("f1", FAR - 2, 3).catch((e: unknown) => e)) as DeliveryError).code).toBe("fenced");
    expect(await b.due(FAR, 10, P(3))).toEqual([]);
    await a.close();
    await b.close();
  });

  test("a late completion by the deposed owner wins: the new owner's copy is dropped (fenced), not sent again on every pass", async () => {
    const { a, b } = await pair();
    await a.enqueue(ev("g1", 3));
    await a.due(FAR, 10, P(3));
    await b.due(FAR, 10, P(3)); // b loaded the event while a's call was still out
    await a.complete("g1"); // a's 2xx recorded late
    const err = await b.complete("g1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).code).toBe("fenced");
    expect(await b.due(FAR, 10, P(3))).toEqual([]);
    await a.close();
    await b.close();
  });

  test("DLQ: listed with paging and replayed by id or all from a node that does not own the partition", async () => {
    const { a, b } = await pair();
    for (let i = 0; i < 5; i++) await a.enqueue(ev(`d${i}`, 5));
    await a.due(FAR, 10, P(5));
    for (let i = 0; i < 5; i++) await a.deadLetter(`d${i}`, "permanent_http_410", 1);
    expect(await b.count()).toBe(5);
    const p1 = await b.list({ limit: 2 });
    const p2 = await b.list({ limit: 2, after: p1.next });
    const p3 = await b.list({ limit: 2, after: p2.next });
    expect([...p1.items, ...p2.items, ...p3.items].map((d) => d.id)).toEqual(["d0", "d1", "d2", "d3", "d4"]);
    expect(p3.next).toBeNull();
    expect(p1.items[0]!.reason).toBe("permanent_http_410");
    expect(p1.items[0]!.attempts).toBe(1);

    expect(await b.replay(["d1", "missing"], Date.now())).toBe(1);
    expect(await b.count()).toBe(4);
    // Ownership moves to b, which loads the partition: the replayed event is back with attempts reset.
    await a.close();
    const owner = await b.due(FAR, 10, P(5));
    expect(owner.map((e) => [e.id, e.attempts])).toEqual([["d1", 0]]);
    expect(await b.replay("all", Date.now())).toBe(4);
    expect(await b.count()).toBe(0);
    await b.close();
  });
});

describe("Dispatcher over JetStreamEventQueue", () => {
  test("each node dispatches only its owned partitions; every event delivered once, then gone for the next owner", async () => {
    const endpoint = startEndpointServer({ kind: "succeed" });
    try {
      const { a, b } = await pair();
      const url = `${endpoint.url}/hook`;
      for (let i = 0; i < 30; i++) await (i % 2 ? a : b).enqueue({ ...ev(`x${i}`, i % 8), url });
      const mk = (q: JetStreamEventQueue, owned: number[]) =>
        new Dispatcher({ queue: q, dlq: q, breaker: new DistributedBreaker({ nodeId: "n" }), ownedPartitions: () => new Set(owned), maxConcurrency: 8 });
      const da = mk(a, [0, 1, 2, 3]);
      const db = mk(b, [4, 5, 6, 7]);
      let started = 0;
      for (let i = 0; i < 20 && started < 30; i++) started += (await da.runOnce()) + (await db.runOnce());
      expect(started).toBe(30);
      const keys = endpoint.requests.map((r) => r.idempotencyKey);
      expect(new Set(keys).size).toBe(30);
      expect(keys.length).toBe(30);
      // Ownership of everything moves to b: nothing is left to send.
      expect(await b.due(FAR, 100, P(0, 1, 2, 3, 4, 5, 6, 7))).toEqual([]);
      await a.close();
      await b.close();
    } finally {
      await endpoint.stop();
    }
  });
});

describe("JetStreamEventQueue outbox fallback", () => {
  test("NATS down: enqueue lands in the SQLite outbox; relayed once NATS returns, then served by the owner, once", async () => {
    const own = await startNatsServer();
    try {
      const nc = await connectNats(own.url);
      const names = { streamName: "EV_FB", dlqStreamName: "DLQ_FB", stateBucket: "st_fb", replicas: 1, partitionCount: 4, publishTimeoutMs: 300, relayIntervalMs: 60_000 };
      const q = new JetStreamEventQueue(nc, outbox(), names);
      await q.start();
      expect(await q.enqueue(ev("before", 0))).toBe(true);
      await own.servers[0]!.stop();
      expect(await q.enqueue(ev("during-1", 0))).toBe(true);
      expect(await q.enqueue(ev("during-2", 1))).toBe(true);
      expect(q.status.degraded).toBe(true);
      expect(q.status.outboxSize).toBe(2);
      await own.servers[0]!.restart();
      let moved = 0;
      for (let i = 0; i < 50 && q.status.outboxSize > 0; i++) moved += await q.relayOnce(); // bounded: reconnect takes a few tries
      expect(q.status.outboxSize).toBe(0);
      expect(moved).toBe(2);
      expect(q.status.degraded).toBe(false);
      const served = await q.due(FAR, 10, P(0, 1));
      expect(served.map((e) => e.id).sort()).toEqual(["before", "during-1", "during-2"]);
      await q.close();
      await nc.close();
    } finally {
      await own.stop();
    }
  });
});
