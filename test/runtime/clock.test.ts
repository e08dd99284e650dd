// Tests for src/runtime/clock.ts: ManualClock time, timer ordering, async advancing, sleep and systemClock.
import { describe, expect, test } from "bun:test";
import { ManualClock, MAX_TIMER_DELAY_MS, sleep, systemClock } from "../../src/runtime/clock.ts";

describe("ManualClock", () => {
  test("starts at the given times and only moves when told", () => {
    const c = new ManualClock({ startMs: 1000, monotonicStartMs: 5 });
    expect(c.nowMs()).toBe(1000);
    expect(c.monotonicMs()).toBe(5);
    c.advance(250);
    expect(c.nowMs()).toBe(1250);
    expect(c.monotonicMs()).toBe(255);
  });

  test("set() jumps the wall clock only, without firing timers", () => {
    const c = new ManualClock({ startMs: 1000 });
    let fired = false;
    c.setTimeout(() => (fired = true), 10);
    c.set(0);
    expect(c.nowMs()).toBe(0);
    expect(c.monotonicMs()).toBe(0);
    expect(fired).toBe(false);
    expect(() => c.set(Number.NaN)).toThrow(RangeError);
  });

  test("advance fires due timers in due order, ties in insertion order, with time at the due instant", () => {
    const c = new ManualClock({ startMs: 0 });
    const log: string[] = [];
    c.setTimeout(() => log.push(`b@${c.monotonicMs()}`), 20);
    c.setTimeout(() => log.push(`a@${c.monotonicMs()}`), 10);
    c.setTimeout(() => log.push(`c@${c.monotonicMs()}`), 20);
    c.setTimeout(() => log.push("late"), 31);
    expect(c.advance(30)).toBe(3);
    expect(log).toEqual(["a@10", "b@20", "c@20"]);
    expect(c.monotonicMs()).toBe(30);
    expect(c.nowMs()).toBe(30);
    expect(c.pendingTimers).toBe(1);
    expect(c.nextTimerAtMs()).toBe(31);
    expect(c.advance(1)).toBe(1);
    expect(c.nextTimerAtMs()).toBeNull();
  });

  test("a zero delay fires on advance(0); a timer set by a callback fires if it falls in the window", () => {
    const c = new ManualClock();
    const log: number[] = [];
    c.setTimeout(() => {
      log.push(c.monotonicMs());
      c.setTimeout(() => log.push(c.monotonicMs()), 5);
    }, 0);
    expect(c.advance(0)).toBe(1);
    expect(c.advance(10)).toBe(1);
    expect(log).toEqual([0, 5]);
  });

  test("clearTimeout cancels; clearing twice or an unknown handle is harmless", () => {
    const c = new ManualClock();
    let fired = 0;
    const h = c.setTimeout(() => fired++, 5);
    c.clearTimeout(h);
    c.clearTimeout(h);
    c.clearTimeout({});
    expect(c.advance(10)).toBe(0);
    expect(fired).toBe(0);
  });

  test("rejects bad delays and advances", () => {
    const c = new ManualClock();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER_DELAY_MS + 1]) {
      expect(() => c.setTimeout(() => {}, bad)).toThrow(RangeError);
    }
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  test("advanceAsync lets async code awaiting a timer run and chain further timers", async () => {
    const c = new ManualClock();
    const log: number[] = [];
    const worker = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(c, 100);
        await Promise.resolve(); // extra hops between timers must not matter
        log.push(c.monotonicMs());
      }
    })();
    expect(await c.advanceAsync(250)).toBe(2);
    expect(log).toEqual([100, 200]);
    expect(await c.advanceAsync(50)).toBe(1);
    await worker;
    expect(log).toEqual([100, 200, 300]);
  });

  test("runAllAsync drains chained timers and is bounded against self-rescheduling", async () => {
    const c = new ManualClock();
    let n = 0;
    const tick = () => {
      n++;
      if (n < 5) c.setTimeout(tick, 1000);
    };
    c.setTimeout(tick, 1000);
    expect(await c.runAllAsync()).toBe(5);
    expect(c.monotonicMs()).toBe(5000);

    const forever = () => void c.setTimeout(forever, 1);
    forever();
    await expect(c.runAllAsync(100)).rejects.toThrow("more than 100 timers");
  });
});

describe("sleep", () => {
  test("abort cancels the timer and rejects with the reason", async () => {
    const c = new ManualClock();
    const ac = new AbortController();
    const p = sleep(c, 100, ac.signal);
    expect(c.pendingTimers).toBe(1);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
    expect(c.pendingTimers).toBe(0);
  });

  test("an already-aborted signal rejects without setting a timer", async () => {
    const c = new ManualClock();
    await expect(sleep(c, 100, AbortSignal.abort(new Error("early")))).rejects.toThrow("early");
    expect(c.pendingTimers).toBe(0);
  });
});

describe("systemClock", () => {
  test("reads real time and runs real timers", async () => {
    const before = Date.now();
    expect(systemClock.nowMs()).toBeGreaterThanOrEqual(before);
    const m1 = systemClock.monotonicMs();
    await sleep(systemClock, 0);
    expect(systemClock.monotonicMs()).toBeGreaterThanOrEqual(m1);
    let fired = false;
    const h = systemClock.setTimeout(() => (fired = true), 0);
    systemClock.clearTimeout(h);
    await sleep(systemClock, 1);
    expect(fired).toBe(false);
    expect(() => systemClock.setTimeout(() => {}, -1)).toThrow(RangeError);
  });
});
