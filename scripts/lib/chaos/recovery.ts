// Recovery time after a fault: from the fault's end until throughput and p99 are back near the pre-fault baseline.
import { LatencyHistogram } from "./histogram.ts";
import type { SecondRecord } from "./series.ts";

export interface Baseline {
  /** Median accepted/s over the baseline seconds. */
  perSec: number;
  /** p99 (ms) of all 202s in the baseline seconds. */
  p99Ms: number;
}

export interface RecoveryRule {
  /** Throughput must be at least this fraction of the baseline (default 0.8). */
  minThroughputRatio: number;
  /** p99 must be at most this multiple of the baseline p99 (default 2). */
  maxP99Ratio: number;
  /** ...for this many consecutive seconds (default 3), so one lucky second does not count as recovered. */
  holdSeconds: number;
}

export const DEFAULT_RULE: RecoveryRule = { minThroughputRatio: 0.8, maxP99Ratio: 2, holdSeconds: 3 };

export function baselineOf(records: readonly SecondRecord[]): Baseline {
  if (records.length === 0) throw new RangeError("a baseline needs at least one second");
  const rates = records.map((r) => r.accepted).sort((a, b) => a - b);
  const mid = rates.length >> 1;
  const perSec = rates.length % 2 === 1 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  const h = new LatencyHistogram();
  for (const r of records) h.merge(r.latency);
  return { perSec, p99Ms: h.percentile(0.99) };
}

/** True when second `r` meets the rule against `base`. A second with no 202 is never good. */
export function goodSecond(r: SecondRecord, base: Baseline, rule: RecoveryRule = DEFAULT_RULE): boolean {
  if (r.accepted === 0) return false;
  return r.accepted >= rule.minThroughputRatio * base.perSec && r.latency.percentile(0.99) <= rule.maxP99Ratio * base.p99Ms;
}

/**
 * Seconds from `endSec` (the fault's end, fractional, since load start) until the start of the first run of
 * `holdSeconds` good seconds that begins in or after the second containing `endSec`, searched before `limitSec`
 * (the next fault or the end of the series). 0 when the load never dipped; null when it did not recover in time.
 * `series` must be dense (index == sec).
 */
export function recoverySeconds(series: readonly SecondRecord[], endSec: number, base: Baseline, limitSec: number, rule: RecoveryRule = DEFAULT_RULE): number | null {
  if (!(endSec >= 0) || !(limitSec >= endSec)) throw new RangeError(`bad window ${endSec}..${limitSec}`);
  if (!Number.isInteger(rule.holdSeconds) || rule.holdSeconds < 1) throw new RangeError("holdSeconds must be a positive integer");
  const last = Math.min(Math.floor(limitSec), series.length) - rule.holdSeconds; // the run must fit before the limit
  for (let s = Math.floor(endSec); s <= last; s++) {
    let ok = true;
    for (let k = 0; k < rule.holdSeconds && ok; k++) {
      const r = series[s + k];
      ok = r !== undefined && r.sec === s + k && goodSecond(r, base, rule);
    }
    if (ok) return Math.max(0, s - endSec);
  }
  return null;
}
