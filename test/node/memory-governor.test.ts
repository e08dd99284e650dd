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
      rssBytes: () => 2,
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
