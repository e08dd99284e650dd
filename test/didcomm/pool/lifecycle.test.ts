// Unpack pool lifecycle: a killed worker's calls still succeed and it is replaced; full queue, close, workers: 0.
import { describe, expect, test } from "bun:test";
import { createUnpackPool, type PoolEvent } from "../../../src/didcomm/pool/index.ts";
import { expectSameAsInThread, mediator, mediatorCtx, realEnvelopes, waitFor } from "./fixtures.ts";

const ctx = mediatorCtx();
const forwardsP = realEnvelopes().then((all) => all.filter((e) => e.workerOnly));

describe("unpack pool lifecycle", () => {
  test("a killed worker: its in-flight calls still give the in-thread results, and a replacement serves", async () => {
    const events: PoolEvent[] = [];
    const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 2, restartMinMs: 10, onEvent: (e) => events.push(e) });
    try {
      const forwards = await forwardsP;
      await expectSameAsInThread(pool, ctx, forwards[0]!.packed, "warm-up"); // workers are up
      const calls = Array.from({ length: 60 }, (_, i) => forwards[i % forwards.length]!);
      const checks = calls.map((env, i) => expectSameAsInThread(pool, ctx, env.packed, `${env.name} #${i}`));
      // Same tick as the posts: worker 0 holds calls it cannot have answered yet.
      const heldByDoomed = pool.stats().inFlight;
      expect(heldByDoomed).toBe(60);
      pool.killWorker(0);
      await Promise.all(checks);
      const exit = events.find((e) => e.kind === "worker_exit");
      expect(exit).toBeDefined();
      expect(exit!.kind === "worker_exit" && exit!.index === 0 && exit!.lostInFlight > 0).toBe(true);
      const s = pool.stats();
      expect(s.restarts).toBe(1);
      expect(s.inThread.worker_lost).toBeGreaterThan(0);
      expect(s.inFlight).toBe(0);
      await waitFor(() => pool.stats().workersAlive === 2, "the replacement worker");
      expect(events.filter((e) => e.kind === "worker_started" && e.index === 0).map((e) => e.kind === "worker_started" && e.generation)).toEqual([1, 2]);
      // The replacement has the keys: it answers forwards itself (both slots get work when loaded).
      const before = pool.stats().viaWorker;
      await Promise.all(Array.from({ length: 40 }, (_, i) => expectSameAsInThread(pool, ctx, forwards[i % forwards.length]!.packed, `after #${i}`)));
      expect(pool.stats().viaWorker - before).toBe(40);
      expect(pool.stats().inThread.worker_lost).toBe(s.inThread.worker_lost);
    } finally {
      await pool.close();
    }
  }, 60_000);

  test("full queue: calls beyond maxQueue run in-thread with the same results", async () => {
    const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 1, maxQueue: 4 });
    try {
      const forwards = await forwardsP;
      await Promise.all(Array.from({ length: 20 }, (_, i) => expectSameAsInThread(pool, ctx, forwards[i % forwards.length]!.packed, `#${i}`)));
      const s = pool.stats();
      expect(s.viaWorker).toBe(4);
      expect(s.inThread.queue_full).toBe(16);
    } finally {
      await pool.close();
    }
  }, 60_000);

  test("close: in-flight calls finish in-thread, later calls run in-thread, workers are gone", async () => {
    const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 2 });
    const forwards = await forwardsP;
    const checks = Array.from({ length: 10 }, (_, i) => expectSameAsInThread(pool, ctx, forwards[i % forwards.length]!.packed, `#${i}`));
    await pool.close();
    await Promise.all(checks);
    expect(pool.stats().inThread.closed).toBe(10);
    expect(pool.stats().workersAlive).toBe(0);
    await expectSameAsInThread(pool, ctx, forwards[0]!.packed, "after close");
    expect(pool.stats().inThread.closed).toBe(11);
    expect(pool.stats().restarts).toBe(0);
  }, 60_000);

  test("workers: 0 is a plain in-thread unpack; bad options are refused", async () => {
    const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 0 });
    const forwards = await forwardsP;
    await expectSameAsInThread(pool, ctx, forwards[0]!.packed, "no workers");
    expect(pool.stats().inThread.no_worker).toBe(1);
    await pool.close();
    expect(() => createUnpackPool({ ctx, keys: mediator.keys, workers: 65 })).toThrow(RangeError);
    expect(() => createUnpackPool({ ctx, keys: mediator.keys, maxQueue: 0 })).toThrow(RangeError);
    expect(() => createUnpackPool({ ctx, keys: mediator.keys, restartMinMs: 100, restartMaxMs: 10 })).toThrow(RangeError);
  }, 60_000);

  test("checkExpiry needs the injected clock: runs in-thread", async () => {
    const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 1 });
    try {
      const forwards = await forwardsP;
      await pool.unpack(forwards[0]!.packed, { checkExpiry: true });
      expect(pool.stats().inThread.clock).toBe(1);
      expect(pool.stats().viaWorker).toBe(0);
    } finally {
      await pool.close();
    }
  }, 60_000);
});
