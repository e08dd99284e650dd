// Membership and leases against a real nats-server: death detection, refutation, and fencing through a cut link.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { Membership } from "../../src/membership/membership.ts";
import { NatsGossipTransport } from "../../src/membership/nats-transport.ts";
import { encodeSuspect } from "../../src/membership/codec.ts";
import { SUBJECT_SUSPECT, type MembershipView } from "../../src/membership/types.ts";
import { LeaseManager } from "../../src/membership/lease-manager.ts";
import { openNatsLeaseStore } from "../../src/membership/lease-store.ts";

// Fast enough for a test, slow enough that an event-loop stall of a loaded CI machine (hundreds of ms) is not a death.
const FAST = { heartbeatIntervalMs: 100, suspectAfterMs: 1000, deadAfterMs: 2000, probeTimeoutMs: 500, checkIntervalMs: 50 };

let nats: NatsCluster;
const conns: NatsConnection[] = [];
const members: Membership[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  for (const m of members) m.stop(false);
  await Promise.allSettled(conns.map((c) => c.close()));
  await nats?.stop();
});

async function conn(url = nats.url): Promise<NatsConnection> {
  const nc = await connect({ servers: url, reconnectTimeWait: 50 });
  conns.push(nc);
  return nc;
}

async function member(id: string): Promise<{ m: Membership; nc: NatsConnection }> {
  const nc = await conn();
  const m = new Membership({ nodeId: id, url: `http://${id}`, transport: new NatsGossipTransport(nc), clock: systemClock, random: seededRandom(7), ...FAST });
  members.push(m);
  return { m, nc };
}

/** Resolves with the first view (current or future) satisfying `pred`; event-driven, no sleeps. */
function viewWhere(m: Membership, pred: (v: MembershipView) => boolean): Promise<MembershipView> {
  return new Promise((resolve) => {
    if (pred(m.view())) return resolve(m.view());
    const off = m.onChange((v) => {
      if (pred(v)) {
        off();
        resolve(v);
      }
    });
  });
}

const stateIn = (v: MembershipView, id: string) => v.members.find((x) => x.nodeId === id)?.state;

describe("membership over real NATS", () => {
  test("a member that stops heartbeating (connection closed) is suspected, then declared dead", async () => {
    const a = await member("ga");
    const b = await member("gb");
    const c = await member("gc");
    for (const x of [a, b, c]) x.m.start();
    await viewWhere(a.m, (v) => v.live.length === 3);
    const seen: string[] = [];
    a.m.onChange((v) => {
      const s = stateIn(v, "gc");
      if (s && seen.at(-1) !== s) seen.push(s);
    });
    await c.nc.close(); // the process is gone as far as NATS is concerned: no heartbeat, no ping answer
    const v = await viewWhere(a.m, (x) => stateIn(x, "gc") === "dead");
    expect(v.live).toEqual(["ga", "gb"]);
    expect(seen).toEqual(["suspect", "dead"]);
    // b too takes gc off its ring: dead, or already forgotten if b got there first (stateIn is then undefined).
    await viewWhere(b.m, (x) => !x.live.includes("gc") && stateIn(x, "gc") !== "suspect");
    a.m.stop(false);
    b.m.stop(false);
    c.m.stop(false);
  }, 30_000);

  test("a falsely suspected member refutes with a higher incarnation", async () => {
    const a = await member("ra");
    const b = await member("rb");
    for (const x of [a, b]) x.m.start();
    await viewWhere(a.m, (v) => v.live.includes("rb"));
    const inc0 = b.m.incarnation;
    // Someone gossips that rb is suspect at its current incarnation.
    const nc = await conn();
    nc.publish(SUBJECT_SUSPECT, encodeSuspect({ nodeId: "rb", incarnation: inc0, from: "ra" }));
    const v = await viewWhere(a.m, (x) => (x.members.find((m) => m.nodeId === "rb")?.incarnation ?? 0) > inc0);
    expect(b.m.refutations).toBe(1);
    expect(stateIn(v, "rb")).toBe("alive");
    expect(v.live).toEqual(["ra", "rb"]);
    a.m.stop(false);
    b.m.stop(false);
  }, 30_000);
});

describe("leases over real NATS KV", () => {
  test("fencing: the owner cut off from NATS finishes onLost before the new owner's onGained", async () => {
    const proxy = FaultProxy.start({ target: nats.url });
    try {
      const ncA = await conn(proxy.url);
      const ncB = await conn();
      const ttlMs = 1500;
      const storeA = await openNatsLeaseStore(ncA, { bucket: "fence_test", leaseTtlMs: ttlMs, replicas: 1 });
      const storeB = await openNatsLeaseStore(ncB, { bucket: "fence_test", leaseTtlMs: ttlMs, replicas: 1 });
      const log: { node: string; what: string; p: number; epoch: number; t: number }[] = [];
      const errors: string[] = [];
      const make = (node: string, store: typeof storeA) =>
        new LeaseManager({
          nodeId: node,
          store,
          clock: systemClock,
          partitions: 4,
          leaseTtlMs: ttlMs,
          safetyMarginMs: 300,
          acquireRetryMs: 50,
          onGained: (p, epoch) => void log.push({ node, what: "gained", p, epoch, t: systemClock.monotonicMs() }),
          onLost: (p, epoch) => void log.push({ node, what: "lost", p, epoch, t: systemClock.monotonicMs() }),
          onError: (err, ctx) => void errors.push(`${node} ${ctx}: ${String(err)}`),
        });
      const a = make("a", storeA);
      const b = make("b", storeB);
      const allGained = (node: string) =>
        new Promise<void>((resolve) => {
          const check = () => ([0, 1, 2, 3].every((p) => log.some((l) => l.node === node && l.what === "gained" && l.p === p)) ? resolve() : setImmediate(check));
          check();
        });
      a.setDesired([0, 1, 2, 3]);
      await allGained("a");
      b.setDesired([0, 1, 2, 3]);
      proxy.blackhole(); // a can no longer reach NATS; its TCP connection stays open
      await allGained("b");
      for (let p = 0; p < 4; p++) {
        const lost = log.find((l) => l.node === "a" && l.what === "lost" && l.p === p);
        const gained = log.find((l) => l.node === "b" && l.what === "gained" && l.p === p)!;
        const first = log.find((l) => l.node === "a" && l.what === "gained" && l.p === p)!;
        expect(lost).toBeDefined();
        expect(lost!.t).toBeLessThan(gained.t);
        expect(gained.epoch).toBeGreaterThan(first.epoch);
        expect(a.holds(p)).toBeNull();
        expect(b.holds(p)).toBe(gained.epoch);
      }
      expect(errors).toEqual([]);
      await Promise.all([a.stop(), b.stop()]);
    } finally {
      proxy.close();
    }
  }, 30_000);

  test("graceful handover deletes the key: the next owner need not wait for the (long) TTL", async () => {
    const ncA = await conn();
    const ncB = await conn();
    const ttlMs = 60_000; // far beyond the test timeout: only the delete can hand over in time
    const storeA = await openNatsLeaseStore(ncA, { bucket: "handover_test", leaseTtlMs: ttlMs, replicas: 1 });
    const storeB = await openNatsLeaseStore(ncB, { bucket: "handover_test", leaseTtlMs: ttlMs, replicas: 1 });
    const order: string[] = [];
    let gainedB!: () => void;
    const bGained = new Promise<void>((r) => (gainedB = r));
    let gainedA!: () => void;
    const aGained = new Promise<void>((r) => (gainedA = r));
    const common = { clock: systemClock, partitions: 1, leaseTtlMs: ttlMs, safetyMarginMs: 1000, acquireRetryMs: 50 };
    const a = new LeaseManager({ ...common, nodeId: "a", store: storeA, onGained: () => (order.push("a+"), gainedA()), onLost: () => void order.push("a-") });
    const b = new LeaseManager({ ...common, nodeId: "b", store: storeB, onGained: () => (order.push("b+"), gainedB()), onLost: () => void order.push("b-") });
    a.setDesired([0]);
    await aGained;
    b.setDesired([0]);
    a.setDesired([]);
    await bGained;
    expect(order).toEqual(["a+", "a-", "b+"]);
    await b.stop();
    expect(order).toEqual(["a+", "a-", "b+", "b-"]);
  }, 30_000);
});
