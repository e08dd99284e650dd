// ProgressWatchdog on a manual clock: acts only when behind AND without progress for the stall timeout; progress,
// being up to date, or backpressure reset the stall clock; "cannot tell" keeps it running.
import { describe, expect, test } from "bun:test";
import { ProgressWatchdog } from "../../src/replication/progress-watchdog.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

function setup(opts: { behind?: () => Promise<boolean> } = {}) {
  const clock = new ManualClock();
  const state = { progress: 0, behind: true, stalls: 0, asked: 0 };
  const dog = new ProgressWatchdog({
    clock,
    intervalMs: 100,
    stallTimeoutMs: 500,
    progress: () => state.progress,
    behind:
      opts.behind ??
      (async () => {
        state.asked++;
        return state.behind;
      }),
    onStall: () => state.stalls++,
  });
  dog.start();
  return { clock, state, dog };
}

describe("ProgressWatchdog", () => {
  test("behind without progress: one stall after the timeout, then one per further timeout", async () => {
    const { clock, state, dog } = setup();
    await clock.advanceAsync(400);
    expect(state.stalls).toBe(0);
    await clock.advanceAsync(100);
    expect(state.stalls).toBe(1);
    await clock.advanceAsync(400);
    expect(state.stalls).toBe(1); // the remedy gets a full timeout
    await clock.advanceAsync(100);
    expect(state.stalls).toBe(2);
    dog.stop();
    await clock.advanceAsync(5000);
    expect(state.stalls).toBe(2);
    expect(clock.pendingTimers).toBe(0);
  });

  test("progress resets the stall clock and is not asked about", async () => {
    const { clock, state, dog } = setup();
    for (let i = 0; i < 20; i++) {
      state.progress++;
      await clock.advanceAsync(100);
    }
    expect(state.stalls).toBe(0);
    expect(state.asked).toBe(0);
    dog.stop();
  });

  test("up to date (not behind) is idle, not stalled; falling behind later starts a fresh timeout", async () => {
    const { clock, state, dog } = setup();
    state.behind = false;
    await clock.advanceAsync(2000);
    expect(state.stalls).toBe(0);
    expect(state.asked).toBeGreaterThan(0);
    state.behind = true;
    await clock.advanceAsync(400);
    expect(state.stalls).toBe(0);
    await clock.advanceAsync(200);
    expect(state.stalls).toBe(1);
    dog.stop();
  });

  test("an unanswerable check keeps the stall clock running: acts on the first answer after the timeout", async () => {
    let answer: "fail" | "behind" = "fail";
    const { clock, state, dog } = setup({
      behind: async () => {
        if (answer === "fail") throw new Error("no stream leader");
        return true;
      },
    });
    await clock.advanceAsync(1000);
    expect(state.stalls).toBe(0);
    answer = "behind";
    await clock.advanceAsync(100);
    expect(state.stalls).toBe(1);
    dog.stop();
  });

  test("rejects non-positive timings", () => {
    const clock = new ManualClock();
    const base = { clock, progress: () => 0, behind: async () => true, onStall: () => {} };
    expect(() => new ProgressWatchdog({ ...base, intervalMs: 0, stallTimeoutMs: 1 })).toThrow(RangeError);
    expect(() => new ProgressWatchdog({ ...base, intervalMs: 1, stallTimeoutMs: 0 })).toThrow(RangeError);
  });
});
