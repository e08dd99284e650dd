// LatencyHistogram and per-second figures: percentiles within the histogram's 1% precision, merge, JSON round trip.
import { describe, expect, test } from "bun:test";
import { LatencyHistogram } from "../../scripts/lib/chaos/histogram.ts";
import { densify, emptySecond, errorsByKind, secondsWithin, windowFigures, worstSecond, type SecondRecord } from "../../scripts/lib/chaos/series.ts";

function exactPercentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1]!;
}

function second(sec: number, accepted: number, latencies: number[], errors: Record<string, number> = {}): SecondRecord {
  const r = emptySecond(sec);
  r.accepted = accepted;
  r.errors = errors;
  for (const v of latencies) r.latency.add(v);
  return r;
}

describe("LatencyHistogram", () => {
  test("percentiles are within 1% of the exact nearest-rank value", () => {
    const values = Array.from({ length: 5000 }, (_, i) => 0.3 + ((i * 7919) % 5000) / 37);
    const h = new LatencyHistogram();
    for (const v of values) h.add(v);
    expect(h.count).toBe(5000);
    for (const q of [0.01, 0.5, 0.9, 0.99, 1]) {
      const exact = exactPercentile(values, q);
      expect(Math.abs(h.percentile(q) - exact) / exact).toBeLessThanOrEqual(0.0101);
    }
  });

  test("empty is NaN; a single value is reported as itself (capped at the max seen)", () => {
    const h = new LatencyHistogram();
    expect(Number.isNaN(h.percentile(0.99))).toBe(true);
    h.add(12.5);
    expect(h.percentile(0.5)).toBeCloseTo(12.5, 0);
    expect(h.percentile(0.99)).toBeLessThanOrEqual(12.5);
  });

  test("merge equals adding everything to one histogram; JSON round trip keeps it", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 1; i <= 300; i++) {
      (i % 3 === 0 ? a : b).add(i / 3);
      all.add(i / 3);
    }
    a.merge(b);
    const back = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    for (const q of [0.5, 0.99]) {
      expect(a.percentile(q)).toBe(all.percentile(q));
      expect(back.percentile(q)).toBe(all.percentile(q));
    }
    expect(back.count).toBe(300);
    expect(back.maxMs).toBe(100);
  });

  test("rejects nonsense", () => {
    const h = new LatencyHistogram();
    expect(() => h.add(-1)).toThrow(RangeError);
    expect(() => h.add(Number.NaN)).toThrow(RangeError);
    expect(() => h.percentile(1.5)).toThrow(RangeError);
    expect(() => LatencyHistogram.fromJSON({ b: [[1, 0]], max: 1 })).toThrow(RangeError);
  });
});

describe("per-second figures", () => {
  const series = densify([second(0, 100, [1, 2, 3]), second(1, 50, [10], { "503": 2 }), second(3, 80, [4], { conn_error: 1, "503": 1 })]);

  test("densify fills missing seconds with zeros", () => {
    expect(series.map((r) => r.sec)).toEqual([0, 1, 2, 3]);
    expect(series[2]!.accepted).toBe(0);
  });

  test("window figures: mean and min per second, merged percentiles, errors", () => {
    const f = windowFigures(series);
    expect(f.seconds).toBe(4);
    expect(f.avgPerSec).toBe(57.5);
    expect(f.minPerSec).toBe(0);
    expect(f.errors).toBe(4);
    expect(f.p99Ms).toBeCloseTo(10, 0);
    expect(errorsByKind(series)).toEqual({ "503": 3, conn_error: 1 });
  });

  test("secondsWithin keeps only whole seconds inside the window", () => {
    expect(secondsWithin(series, 0.5, 3).map((r) => r.sec)).toEqual([1, 2]);
    expect(secondsWithin(series, 0, 4).length).toBe(4);
  });

  test("worst second ignores seconds with too few samples", () => {
    expect(worstSecond(series, 2)?.sec).toBe(0);
    expect(worstSecond(series, 1)?.sec).toBe(1);
    expect(worstSecond(series, 50)).toBeUndefined();
  });
});
