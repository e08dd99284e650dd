// Recovery-time detection: from the fault's end to the first held run of seconds near the pre-fault baseline.
import { describe, expect, test } from "bun:test";
import { baselineOf, goodSecond, recoverySeconds } from "../../scripts/lib/chaos/recovery.ts";
import { emptySecond, type SecondRecord } from "../../scripts/lib/chaos/series.ts";

/** A dense series from [accepted, latencyMs] per second (every 202 of a second has that latency). */
function seriesOf(points: [number, number][]): SecondRecord[] {
  return points.map(([accepted, ms], sec) => {
    const r = emptySecond(sec);
    r.accepted = accepted;
    if (accepted > 0) r.latency.add(ms, accepted);
    return r;
  });
}

const healthy: [number, number] = [100, 10];
const base = { perSec: 100, p99Ms: 10 };

describe("recovery detection", () => {
  test("baseline: median throughput, merged p99", () => {
    const b = baselineOf(seriesOf([[90, 10], [100, 10], [120, 10], [100, 10]]));
    expect(b.perSec).toBe(100);
    expect(b.p99Ms).toBeCloseTo(10, 0);
    expect(() => baselineOf([])).toThrow(RangeError);
  });

  test("a second needs >= 80% throughput and p99 <= 2x; an empty second is never good", () => {
    expect(goodSecond(seriesOf([[80, 20]])[0]!, base)).toBe(true);
    expect(goodSecond(seriesOf([[79, 10]])[0]!, base)).toBe(false);
    expect(goodSecond(seriesOf([[100, 21]])[0]!, base)).toBe(false);
    expect(goodSecond(seriesOf([[0, 0]])[0]!, base)).toBe(false);
  });

  test("no dip: recovery 0 (at the start of the fault's end second or after)", () => {
    const s = seriesOf(Array.from({ length: 20 }, () => healthy));
    expect(recoverySeconds(s, 5, base, 20)).toBe(0);
    expect(recoverySeconds(s, 5.4, base, 20)).toBe(0);
  });

  test("a dip after the fault's end: time to the first of 3 good seconds in a row", () => {
    // fault ends at 5.0; seconds 5..7 bad, 8 good, 9 bad (not held), 10..12 good
    const pts: [number, number][] = Array.from({ length: 20 }, () => healthy);
    for (const s of [5, 6, 7, 9]) pts[s] = [20, 300];
    expect(recoverySeconds(seriesOf(pts), 5, base, 20)).toBe(5);
    expect(recoverySeconds(seriesOf(pts), 5, base, 20, { minThroughputRatio: 0.8, maxP99Ratio: 2, holdSeconds: 1 })).toBe(3);
  });

  test("latency alone can keep it unrecovered; null when no held run fits before the limit", () => {
    const pts: [number, number][] = Array.from({ length: 20 }, () => [100, 50]);
    expect(recoverySeconds(seriesOf(pts), 2, base, 20)).toBeNull();
    const late: [number, number][] = Array.from({ length: 20 }, (_, s) => (s < 16 ? [0, 0] : healthy));
    expect(recoverySeconds(seriesOf(late), 2, base, 18)).toBeNull(); // 16,17 good, but 3 seconds do not fit before 18
    expect(recoverySeconds(seriesOf(late), 2, base, 19)).toBe(14);
  });

  test("rejects a window that ends before it starts", () => {
    expect(() => recoverySeconds(seriesOf([healthy]), 5, base, 4)).toThrow(RangeError);
  });
});
