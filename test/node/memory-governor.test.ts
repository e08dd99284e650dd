// The memory governor collects only above the soft limit, and at most once per minGapMs.
import { describe, expect, test } from "bun:test";
import { MemoryGovernor } from "../../src/node/memory-governor.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

describe("MemoryGovernor", () => {
  test("collects above the limit, rate-limited, and never below it", () => {
    const clock = new ManualClock();
    let rss = 100;
    let collected = 0;
    const g = new MemoryGovernor({ clock, softLimitBytes: 150, checkIntervalMs: 1000, minGapMs: 5000, rssBytes: () => rss, collect: () => collected++ });
    g.start();
    clock.advance(3000);
    expect(collected).toBe(0);
    rss = 200;
    clock.advance(1000); // first sample above the limit: collect
    expect(collected).toBe(1);
    clock.advance(4000); // still above, but within minGapMs of the last collection
    expect(collected).toBe(1);
    clock.advance(1000);
    expect(collected).toBe(2);
    rss = 100;
    clock.advance(10_000);
    expect(collected).toBe(2);
    expect(g.collections).toBe(2);
    g.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test("rejects a non-positive limit", () => {
    expect(() => new MemoryGovernor({ clock: new ManualClock(), softLimitBytes: 0 })).toThrow(RangeError);
  });
});
