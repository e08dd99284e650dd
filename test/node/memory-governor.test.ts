// The memory governor collects only above the soft limit, only when the heap grew, and at most once per minGapMs.
import { describe, expect, test } from "bun:test";
import { MemoryGovernor } from "../../src/node/memory-governor.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

describe("MemoryGovernor", () => {
  test("collects above the limit, rate-limited, and never below it", () => {
    const clock = new ManualClock();
    let rss = 100;
    let heap = 50;
    let collected = 0;
    const g = new MemoryGovernor({
      clock,
      softLimitBytes: 150,
      checkIntervalMs: 1000,
      minGapMs: 5000,
      heapGrowthRatio: 0,
      sample: () => ({ rssBytes: rss, heapBytes: heap }),
      collect: () => {
        collected++;
        heap = 40;
      },
    });
    g.start();
    clock.advance(3000);
    expect(collected).toBe(0);
    rss = 200;
    clock.advance(1000); // first sample above the limit: collect
    expect(collected).toBe(1);
    heap = 60;
    clock.advance(4000); // still above and the heap grew, but within minGapMs of the last collection
    expect(collected).toBe(1);
    clock.advance(1000);
    expect(collected).toBe(2);
    rss = 100;
    heap = 1000;
    clock.advance(10_000); // below the limit: garbage alone is no reason to pause
    expect(collected).toBe(2);
    expect(g.collections).toBe(2);
    g.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test("above the limit, collects again only after the heap grew by heapGrowthRatio over what the last one left", () => {
    const clock = new ManualClock();
    let heap = 300;
    let collected = 0;
    const g = new MemoryGovernor({
      clock,
      softLimitBytes: 150,
      minGapMs: 0,
      heapGrowthRatio: 0.5,
      sample: () => ({ rssBytes: 500, heapBytes: heap }), // a live set above the limit: RSS never drops below it
      collect: () => {
        collected++;
        heap = 100; // what the collection leaves live
      },
    });
    expect(g.check()).toBe(true);
    expect(collected).toBe(1);
    // Idle above the limit: the old governor collected here every time; nothing new to free, so no pause.
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      expect(g.check()).toBe(false);
    }
    heap = 150; // exactly 1.5 x live: not yet
    expect(g.check()).toBe(false);
    heap = 151;
    expect(g.check()).toBe(true);
    expect(collected).toBe(2);
  });

  test("above the limit, collects when RSS grew by rssGrowthBytes though the heap figures did not", () => {
    const clock = new ManualClock();
    let rss = 200;
    let collected = 0;
    const g = new MemoryGovernor({
      clock,
      softLimitBytes: 150,
      minGapMs: 0,
      heapGrowthRatio: 0.25,
      rssGrowthBytes: 50,
      sample: () => ({ rssBytes: rss, heapBytes: 100 }), // heap flat: the burst's garbage shows in RSS first
      collect: () => {
        collected++;
        rss = 180; // what the collection leaves resident
      },
    });
    expect(g.check()).toBe(true); // the first collection: nothing to compare with yet
    rss = 230; // exactly rssGrowthBytes over what the last one left: not yet
    expect(g.check()).toBe(false);
    rss = 231;
    expect(g.check()).toBe(true);
    expect(collected).toBe(2);
    // rssGrowthBytes 0 turns the RSS trigger off: only heap growth counts.
    let heap = 100;
    const heapOnly = new MemoryGovernor({
      clock,
      softLimitBytes: 150,
      minGapMs: 0,
      heapGrowthRatio: 0.25,
      rssGrowthBytes: 0,
      sample: () => ({ rssBytes: rss, heapBytes: heap }),
      collect: () => {},
    });
    expect(heapOnly.check()).toBe(true);
    rss = 10_000;
    expect(heapOnly.check()).toBe(false);
    heap = 126;
    expect(heapOnly.check()).toBe(true);
  });

  test("a long collection defers the next one by pause / maxPauseFraction (the pause budget)", () => {
    const clock = new ManualClock();
    let collected = 0;
    let samples = 0;
    const g = new MemoryGovernor({
      clock,
      softLimitBytes: 150,
      minGapMs: 100,
      maxPauseFraction: 0.1,
      rssGrowthBytes: 0,
      heapGrowthRatio: 0,
      sample: () => ({ rssBytes: 500, heapBytes: 100 + ++samples }), // every sample a little growth
      collect: () => {
        collected++;
        clock.advance(40); // a 40 ms pause: the next may come 400 ms after this one started
      },
    });
    expect(g.check()).toBe(true);
    clock.advance(300); // 340 ms since the start of the last collection
    expect(g.check()).toBe(false);
    clock.advance(60); // 400 ms
    expect(g.check()).toBe(true);
    expect(collected).toBe(2);
  });

  test("rejects out-of-range options", () => {
    const clock = new ManualClock();
    expect(() => new MemoryGovernor({ clock, softLimitBytes: 1, checkIntervalMs: 0 })).toThrow(RangeError);
    expect(() => new MemoryGovernor({ clock, softLimitBytes: 1, minGapMs: -1 })).toThrow(RangeError);
    expect(() => new MemoryGovernor({ clock, softLimitBytes: 1, heapGrowthRatio: Number.NaN })).toThrow(RangeError);
    expect(() => new MemoryGovernor({ clock, softLimitBytes: 1, maxPauseFraction: 0 })).toThrow(RangeError);
    expect(() => new MemoryGovernor({ clock, softLimitBytes: 1, rssGrowthBytes: -1 })).toThrow(RangeError);
  });

  test("reports each forced collection's duration (Bun emits no GC events of its own)", async () => {
    const { createNodeMetrics } = await import("../../src/node/metrics-wiring.ts");
    const { loadConfig } = await import("../../src/config/index.ts");
    const { createLogger } = await import("../../src/observability/logger.ts");
    const clock = new ManualClock();
    const nm = createNodeMetrics({ config: loadConfig({ DATA_DIR: "/tmp" }), logger: createLogger({ level: "silent" }), clock });
    const seen: number[] = [];
    const g = new MemoryGovernor({
      clock,
      softLimitBytes: 1,
      sample: () => ({ rssBytes: 2, heapBytes: 1 }),
      collect: () => {},
      onCollected: (s) => {
        seen.push(s);
        nm.metrics.gcForced(s);
      },
    });
    expect(g.check()).toBe(true);
    expect(seen.length).toBe(1);
    expect(seen[0]).toBeGreaterThanOrEqual(0);
    expect(await nm.metrics.render()).toContain("haven_gc_forced_duration_seconds_count 1");
    await nm.stop();
  });

  test("rejects a non-positive limit", () => {
    expect(() => new MemoryGovernor({ clock: new ManualClock(), softLimitBytes: 0 })).toThrow(RangeError);
  });
});
