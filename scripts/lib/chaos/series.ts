// Per-second load records (202s, statuses, latency histogram) and the figures drawn from them: phases, worst second, totals.
import { LatencyHistogram } from "./histogram.ts";

/** One second of load, attributed by response completion time (second k covers [k, k+1) since load start). */
export interface SecondRecord {
  sec: number;
  /** Responses with status 202. */
  accepted: number;
  /** Everything else, by status code or by failure kind ("conn_error", "timeout", "no_backend"). */
  errors: Record<string, number>;
  /** Latency of the 202s (ms). */
  latency: LatencyHistogram;
}

export function emptySecond(sec: number): SecondRecord {
  return { sec, accepted: 0, errors: {}, latency: new LatencyHistogram() };
}

export function errorCount(r: SecondRecord): number {
  return Object.values(r.errors).reduce((s, n) => s + n, 0);
}

/** Seconds whose whole span lies in [fromSec, toSec). */
export function secondsWithin(series: readonly SecondRecord[], fromSec: number, toSec: number): SecondRecord[] {
  return series.filter((r) => r.sec >= fromSec && r.sec + 1 <= toSec);
}

export interface WindowFigures {
  seconds: number;
  /** Mean and lowest accepted/s over the window's seconds. */
  avgPerSec: number;
  minPerSec: number;
  accepted: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

/** Figures over the given seconds: throughput mean/min, merged latency percentiles (NaN when nothing was accepted). */
export function windowFigures(records: readonly SecondRecord[]): WindowFigures {
  const h = new LatencyHistogram();
  let accepted = 0;
  let errors = 0;
  let minPerSec = Infinity;
  for (const r of records) {
    h.merge(r.latency);
    accepted += r.accepted;
    errors += errorCount(r);
    minPerSec = Math.min(minPerSec, r.accepted);
  }
  const n = records.length;
  return {
    seconds: n,
    avgPerSec: n > 0 ? accepted / n : NaN,
    minPerSec: n > 0 ? minPerSec : NaN,
    accepted,
    errors,
    p50Ms: h.percentile(0.5),
    p99Ms: h.percentile(0.99),
  };
}

/** Error counts by kind, summed over the records. */
export function errorsByKind(records: readonly SecondRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, n] of Object.entries(r.errors)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/**
 * The second with the highest p99, among seconds with at least `minSamples` 202s (a second with 3 requests has no
 * meaningful p99); undefined when there is none.
 */
export function worstSecond(records: readonly SecondRecord[], minSamples = 20): { sec: number; p99Ms: number; p50Ms: number } | undefined {
  let worst: { sec: number; p99Ms: number; p50Ms: number } | undefined;
  for (const r of records) {
    if (r.latency.count < minSamples) continue;
    const p99Ms = r.latency.percentile(0.99);
    if (worst === undefined || p99Ms > worst.p99Ms) worst = { sec: r.sec, p99Ms, p50Ms: r.latency.percentile(0.5) };
  }
  return worst;
}

/** Fills gaps so that index == sec (a second in which nothing completed is a real zero, not a missing point). */
export function densify(records: readonly SecondRecord[]): SecondRecord[] {
  const bySec = new Map(records.map((r) => [r.sec, r]));
  const last = records.reduce((m, r) => Math.max(m, r.sec), -1);
  return Array.from({ length: last + 1 }, (_, s) => bySec.get(s) ?? emptySecond(s));
}
