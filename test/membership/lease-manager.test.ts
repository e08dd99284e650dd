// LeaseManager under a ManualClock and an in-memory KV: acquire, renew, handover, and the fencing invariant.
import { describe, expect, test } from "bun:test";
import { ManualClock, sleep } from "../../src/runtime/clock.ts";
import { seedFromEnv, type Random } from "../../src/runtime/random.ts";
import { LeaseManager } from "../../src/membership/lease-manager.ts";
import type { LossReason, OwnershipEvent } from "../../src/membership/lease-options.ts";
import { MemoryLeaseServer, type LinkMode } from "../../src/membership/memory-lease-store.ts";
import type { LeaseStore } from "../../src/membership/lease-store.ts";

const TTL = 3000;
const MARGIN = 500;
const P = 4;

interface Log {
  t: number;
  node: string;
  what: "gain-start" | "gain-end" | "lost-start" | "lost-end";
  p: number;
  epoch: number;
  reason?: LossReason;
}

/**
 * Harness: managers on one in-memory KV; every onGained/onLost is logged, and the strong form of the
 * invariant is checked as it happens: when a node starts onGained for p, no other node is between
 * its own onGained start and onLost end for p.
 */
function world(opts: { latencyMs?: number; lostMs?: (r: Random | null) => number; random?: Random; oneByOne?: boolean } = {}) {
  const clock = new ManualClock();
  const server = new MemoryLeaseServer(clock, TTL, opts.latencyMs ?? 0);
  const log: Log[] = [];
  const events: (OwnershipEvent & { node: string })[] = [];
  const active = new Map<number, { node: string; epoch: number }>();
  const lastEpoch = new Map<number, number>();
  const violations: string[] = [];
  const managers = new Map<string, LeaseManager>();
  const make = (node: string) => {
    const m = new LeaseManager({
      nodeId: node,
      store: opts.oneByOne ? withoutCreateMany(server.client(node)) : server.client(node),
      clock,
      partitions: P,
      leaseTtlMs: TTL,
      safetyMarginMs: MARGIN,
      onGained: (p, epoch) => {
        const t = clock.monotonicMs();
        log.push({ t, node, what: "gain-start", p, epoch });
        const cur = active.get(p);
        if (cur) violations.push(`t=${t} ${node} gains p${p}@${epoch} while ${cur.node}@${cur.epoch} is active`);
        if (epoch <= (lastEpoch.get(p) ?? 0)) violations.push(`t=${t} epoch of p${p} did not increase: ${epoch}`);
        lastEpoch.set(p, epoch);
        active.set(p, { node, epoch });
        log.push({ t, node, what: "gain-end", p, epoch });
      },
      onLost: async (p, epoch, reason) => {
        log.push({ t: clock.monotonicMs(), node, what: "lost-start", p, epoch, reason });
        const ms = opts.lostMs?.(opts.random ?? null) ?? 0;
        if (ms > 0) await sleep(clock, ms);
        if (active.get(p)?.node === node) active.delete(p);
        log.push({ t: clock.monotonicMs(), node, what: "lost-end", p, epoch, reason });
      },
      onEvent: (e) => events.push({ ...e, node }),
      onError: (err, ctx) => violations.push(`${node} error in ${ctx}: ${String(err)}`),
    });
    managers.set(node, m);
    return m;
  };
  /** Advances in small steps, checking after each that at most one manager holds each partition. */
  const run = async (ms: number, stepMs = 10) => {
    for (let done = 0; done < ms; done += stepMs) {
      await clock.advanceAsync(stepMs);
      for (let p = 0; p < P; p++) {
        const holders = [...managers].filter(([, m]) => m.holds(p) !== null).map(([n]) => n);
        if (holders.length > 1) violations.push(`t=${clock.monotonicMs()} p${p} held by ${holders.join(",")}`);
      }
    }
  };
  return { clock, server, log, events, violations, make, run, managers };
}

/** A store without the optional createMany: LeaseManager then creates the keys of a round one by one. */
function withoutCreateMany(s: LeaseStore): LeaseStore {
  return { create: (...a) => s.create(...a), update: (...a) => s.update(...a), delete: (...a) => s.delete(...a), get: (...a) => s.get(...a) };
}

describe("LeaseManager (ManualClock, in-memory KV)", () => {
  test("acquires desired partitions and keeps them by renewing", async () => {
    const w = world();
    const a = w.make("a");
    a.setDesired([0, 1]);
    await w.run(50);
    const e0 = a.holds(0);
    expect(e0).not.toBeNull();
    expect(a.holds(1)).not.toBeNull();
    expect(a.holds(2)).toBeNull();
    await w.run(10 * TTL);
    expect(a.holds(0)).toBe(e0); // the epoch is the acquisition revision; renewals do not change it
    expect(a.owned().map((o) => o.partition)).toEqual([0, 1]);
    expect(w.violations).toEqual([]);
  });

  test("a second node cannot acquire a held partition", async () => {
    const w = world();
    const a = w.make("a");
    const b = w.make("b");
    a.setDesired([0]);
    await w.run(50);
    b.setDesired([0]);
    await w.run(5 * TTL);
    expect(a.holds(0)).not.toBeNull();
    expect(b.holds(0)).toBeNull();
    expect(w.violations).toEqual([]);
  });

  test("graceful handover: onLost completes, the key is deleted, the new owner takes over before the TTL", async () => {
    const w = world({ lostMs: () => 200 });
    const a = w.make("a");
    const b = w.make("b");
    a.setDesired([0]);
    await w.run(50);
    const epochA = a.holds(0)!;
    b.setDesired([0]);
    a.setDesired([]);
    const t0 = w.clock.monotonicMs();
    await w.run(TTL / 2);
    const epochB = b.holds(0);
    expect(epochB).not.toBeNull();
    expect(epochB!).toBeGreaterThan(epochA);
    const lostEnd = w.log.find((l) => l.node === "a" && l.what === "lost-end")!;
    const gainStart = w.log.find((l) => l.node === "b" && l.what === "gain-start")!;
    expect(lostEnd.reason).toBe("released");
    expect(gainStart.t).toBeGreaterThanOrEqual(lostEnd.t);
    expect(gainStart.t - t0).toBeLessThan(TTL); // it did not wait for expiry: the delete handed it over
    expect(w.violations).toEqual([]);
  });

  for (const mode of ["down", "ackLost"] as LinkMode[]) {
    test(`fencing: owner cut off from the KV (${mode}) stops before the new owner starts`, async () => {
      const w = world({ latencyMs: 5, lostMs: () => 300 });
      const a = w.make("a");
      const b = w.make("b");
      a.setDesired([0, 1, 2, 3]);
      await w.run(100);
      const epochs = [0, 1, 2, 3].map((p) => a.holds(p)!);
      b.setDesired([0, 1, 2, 3]); // b thinks it should own them (e.g. it declared a dead)
      w.server.setMode("a", mode);
      await w.run(3 * TTL);
      for (let p = 0; p < P; p++) {
        expect(a.holds(p)).toBeNull();
        expect(b.holds(p)).toBeGreaterThan(epochs[p]!);
        const lost = w.log.find((l) => l.node === "a" && l.what === "lost-end" && l.p === p)!;
        const gained = w.log.find((l) => l.node === "b" && l.what === "gain-start" && l.p === p)!;
        expect(lost.reason).toBe("expired");
        expect(lost.t).toBeLessThan(gained.t);
      }
      expect(w.events.filter((e) => e.type === "fence-overrun")).toEqual([]);
      expect(w.violations).toEqual([]);
      // a comes back: it must not steal anything; b keeps serving.
      w.server.setMode("a", "up");
      a.setDesired([0, 1, 2, 3]);
      await w.run(2 * TTL);
      for (let p = 0; p < P; p++) expect(a.holds(p)).toBeNull();
      expect(w.violations).toEqual([]);
    });
  }

  test("holds() answers null from the serve deadline even when onLost overruns the margin (and that is reported)", async () => {
    const w = world({ lostMs: () => 2 * MARGIN });
    const a = w.make("a");
    a.setDesired([0]);
    await w.run(50);
    w.server.setMode("a", "down");
    let sawNullWhileLosing = false;
    for (let i = 0; i < 400 && !w.log.some((l) => l.what === "lost-end"); i++) {
      await w.clock.advanceAsync(10);
      if (w.log.some((l) => l.what === "lost-start") && a.holds(0) === null) sawNullWhileLosing = true;
    }
    expect(sawNullWhileLosing).toBe(true);
    expect(w.events.some((e) => e.type === "fence-overrun")).toBe(true);
    expect(a.stats.fenceOverruns).toBe(1);
  });

  test("drain releases everything and acquires nothing more", async () => {
    const w = world();
    const a = w.make("a");
    a.setDesired([0, 1, 2]);
    await w.run(50);
    const drained = a.drain();
    await w.run(50);
    await drained;
    expect(a.owned()).toEqual([]);
    for (let p = 0; p < 3; p++) expect(w.server.peek(`p.${p}`)).toBeNull();
    a.setDesired([0]);
    await w.run(TTL);
    expect(a.holds(0)).toBeNull();
  });

  for (const oneByOne of [false, true]) test(`randomised: outages, ack losses and ring changes never give two owners (seeded${oneByOne ? ", creates one by one" : ""})`, async () => {
    const { seed, random } = seedFromEnv();
    console.log(`lease fencing simulation SEED=${seed}`);
    const w = world({ latencyMs: 7, lostMs: (r) => (r ? r.int(MARGIN - 100) : 0), random, oneByOne });
    const nodes = ["a", "b", "c"];
    for (const n of nodes) w.make(n);
    const modes: LinkMode[] = ["up", "up", "up", "down", "ackLost"];
    for (let round = 0; round < 40; round++) {
      for (const n of nodes) {
        if (random.int(3) === 0) w.server.setMode(n, modes[random.int(modes.length)]!);
        const desired = [];
        for (let p = 0; p < P; p++) if (random.int(2) === 0) desired.push(p);
        w.managers.get(n)!.setDesired(desired);
      }
      await w.run(200 + random.int(2 * TTL), 5);
      if (w.violations.length > 0) break;
    }
    if (w.violations.length > 0 && process.env.LEASE_DEBUG) console.log(w.log.filter((l) => l.p === 2).slice(-12), w.events.filter((e) => e.partition === 2).slice(-12));
    expect(w.violations).toEqual([]);
    expect(w.events.filter((e) => e.type === "gained").length).toBeGreaterThan(10);
    expect(w.events.filter((e) => e.type === "fence-overrun")).toEqual([]);
  }, 30_000);
});

/** Records every store call (operation, key, clock time) and passes it through. */
function recording(s: LeaseStore, clock: ManualClock, calls: { op: string; key: string; t: number }[]): LeaseStore {
  const rec = (op: string, key: string) => calls.push({ op, key, t: clock.monotonicMs() });
  return {
    create: (k, v, t) => (rec("create", k), s.create(k, v, t)),
    update: (k, v, r, t) => (rec("update", k), s.update(k, v, r, t)),
    delete: (k, r, t) => (rec("delete", k), s.delete(k, r, t)),
    get: (k, t) => (rec("get", k), s.get(k, t)),
    createMany: (es, t, onSend, onCreated) => s.createMany!(es, t, (k) => (rec("create", k), onSend(k)), onCreated),
  };
}

describe("LeaseManager renewal bursts", () => {
  const RENEW_MS = TTL / 4;
  const make = (clock: ManualClock, server: MemoryLeaseServer, calls: { op: string; key: string; t: number }[]) =>
    new LeaseManager({ nodeId: "a", store: recording(server.client("a"), clock, calls), clock, partitions: P, leaseTtlMs: TTL, safetyMarginMs: MARGIN, onGained: () => {}, onLost: () => {} });

  test("all of a node's leases are renewed together, once per renew interval", async () => {
    const clock = new ManualClock();
    const server = new MemoryLeaseServer(clock, TTL, 0);
    const calls: { op: string; key: string; t: number }[] = [];
    const a = make(clock, server, calls);
    a.setDesired([0, 1]);
    for (let i = 0; i < 20; i++) await clock.advanceAsync(10);
    a.setDesired([0, 1, 2, 3]); // acquired in a later round, at another phase of the cadence
    for (let i = 0; i < 3 * TTL; i += 10) await clock.advanceAsync(10);
    expect(a.owned().map((o) => o.partition)).toEqual([0, 1, 2, 3]);
    const renewals = calls.filter((c) => c.op === "update");
    const byTime = new Map<number, string[]>();
    for (const r of renewals) byTime.set(r.t, [...(byTime.get(r.t) ?? []), r.key]);
    const bursts = [...byTime.entries()].filter(([t]) => t > 300);
    expect(bursts.length).toBeGreaterThan(5);
    for (const [, keys] of bursts) expect(keys.sort()).toEqual(["p.0", "p.1", "p.2", "p.3"]);
    const times = bursts.map(([t]) => t);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(RENEW_MS);
  });

  test("before creating, a node renews what it holds (then writes nothing else for most of an interval)", async () => {
    const clock = new ManualClock();
    const server = new MemoryLeaseServer(clock, TTL, 0);
    const calls: { op: string; key: string; t: number }[] = [];
    const a = make(clock, server, calls);
    a.setDesired([0, 1]);
    for (let i = 0; i < 20; i++) await clock.advanceAsync(10);
    // Past the middle of the cadence: the next scheduled burst is less than half an interval away.
    const acquiredAt = RENEW_MS + RENEW_MS / 2 + 50; // the first burst was at RENEW_MS (leases created at ~0)
    while (clock.monotonicMs() < acquiredAt) await clock.advanceAsync(10);
    calls.length = 0;
    const t0 = clock.monotonicMs();
    a.setDesired([0, 1, 2, 3]);
    for (let i = 0; i < 10; i++) await clock.advanceAsync(10);
    expect(a.owned().map((o) => o.partition)).toEqual([0, 1, 2, 3]);
    const ops = calls.map((c) => `${c.op} ${c.key}`);
    expect(ops.slice(0, 6)).toEqual(["get p.2", "get p.3", "update p.0", "update p.1", "create p.2", "create p.3"]);
    // The cadence restarted at that burst: the next renewals are one full interval after it.
    for (let i = 0; i < RENEW_MS; i += 10) await clock.advanceAsync(10);
    const renewedAt = calls.filter((c) => c.op === "update").map((c) => c.t);
    expect(renewedAt[0]).toBe(t0);
    expect(renewedAt.find((t) => t > t0)).toBe(t0 + RENEW_MS);
  });
});
