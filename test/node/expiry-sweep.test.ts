// The periodic TTL sweep: bounded batches, quick catch-up after a full batch, errors logged and retried, clean stop.
import { describe, expect, test } from "bun:test";
import { ExpirySweep } from "../../src/node/expiry-sweep.ts";
import { createLogger } from "../../src/observability/index.ts";
import { ManualClock } from "../../src/runtime/index.ts";

function fakeStore(script: (number | Error)[]) {
  const calls: { nowMs: number; limit: number }[] = [];
  return {
    calls,
    messages: {
      async expire(nowMs: number, limit: number): Promise<number> {
        calls.push({ nowMs, limit });
        const next = script.shift() ?? 0;
        if (next instanceof Error) throw next;
        return next;
      },
    },
  };
}

const quietLogger = () => createLogger({ level: "silent", destination: { write: () => {} } });

describe("ExpirySweep", () => {
  test("sweeps every interval with the batch limit and the clock's wall time", async () => {
    const clock = new ManualClock();
    const store = fakeStore([0, 0]);
    const sweep = new ExpirySweep({ messages: store.messages, clock, logger: quietLogger(), intervalMs: 1000, batchSize: 10 });
    sweep.start();
    await clock.advanceAsync(999);
    expect(store.calls).toHaveLength(0);
    await clock.advanceAsync(1);
    expect(store.calls).toEqual([{ nowMs: clock.nowMs(), limit: 10 }]);
    await clock.advanceAsync(1000);
    expect(store.calls).toHaveLength(2);
    await sweep.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test("a full batch is followed quickly by another; a partial one waits the interval", async () => {
    const clock = new ManualClock();
    const store = fakeStore([10, 10, 3]);
    const sweep = new ExpirySweep({ messages: store.messages, clock, logger: quietLogger(), intervalMs: 1000, batchSize: 10, catchUpDelayMs: 5 });
    sweep.start();
    await clock.advanceAsync(1000 + 5 + 5);
    expect(store.calls).toHaveLength(3);
    expect(sweep.expiredTotal).toBe(23);
    await clock.advanceAsync(999);
    expect(store.calls).toHaveLength(3);
    await sweep.stop();
  });

  test("a failing sweep is logged and retried next interval", async () => {
    const clock = new ManualClock();
    const store = fakeStore([new Error("disk"), 2]);
    const sweep = new ExpirySweep({ messages: store.messages, clock, logger: quietLogger(), intervalMs: 100, batchSize: 10 });
    sweep.start();
    await clock.advanceAsync(200);
    expect(store.calls).toHaveLength(2);
    expect(sweep.expiredTotal).toBe(2);
    await sweep.stop();
  });

  test("options are bounded", () => {
    const clock = new ManualClock();
    const { messages } = fakeStore([]);
    expect(() => new ExpirySweep({ messages, clock, logger: quietLogger(), batchSize: 0 })).toThrow(RangeError);
    expect(() => new ExpirySweep({ messages, clock, logger: quietLogger(), intervalMs: 1 })).toThrow(RangeError);
  });
});
