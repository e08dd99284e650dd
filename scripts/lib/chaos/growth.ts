// Resource growth check for the soak: median of the last third of the samples vs the first third (after warm-up).

export interface GrowthTolerance {
  /** Allowed relative growth of the median (e.g. 0.25 = +25%)... */
  relative: number;
  /** ...plus this absolute allowance (same unit as the samples), so small baselines are not judged on noise. */
  absolute: number;
}

export interface GrowthVerdict {
  ok: boolean;
  /** Samples used (after warm-up). */
  samples: number;
  firstMedian: number;
  lastMedian: number;
  /** The largest last-third median that passes. */
  limit: number;
  /** Why the verdict is a failure without comparing (too few samples). */
  reason?: string;
}

/** Thirds need at least this many samples in all, so that each median has more than one point. */
export const MIN_SAMPLES = 6;

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * `samples` in time order; the first `warmupCount` are dropped (start-up allocation, JIT, caches filling). Passes
 * when median(last third) <= median(first third) * (1 + relative) + absolute. Non-finite samples are dropped (a
 * reading taken while the process was gone). Too few samples is a failure: no evidence is not evidence of no growth.
 */
export function checkGrowth(samples: readonly number[], warmupCount: number, tol: GrowthTolerance): GrowthVerdict {
  if (!Number.isInteger(warmupCount) || warmupCount < 0) throw new RangeError("warmupCount must be a non-negative integer");
  if (!(tol.relative >= 0) || !(tol.absolute >= 0)) throw new RangeError("tolerances must be non-negative");
  const used = samples.slice(warmupCount).filter((v) => Number.isFinite(v));
  if (used.length < MIN_SAMPLES) {
    return { ok: false, samples: used.length, firstMedian: NaN, lastMedian: NaN, limit: NaN, reason: `only ${used.length} samples after warm-up (need ${MIN_SAMPLES})` };
  }
  const third = Math.floor(used.length / 3);
  const firstMedian = median(used.slice(0, third));
  const lastMedian = median(used.slice(used.length - third));
  const limit = firstMedian * (1 + tol.relative) + tol.absolute;
  return { ok: lastMedian <= limit, samples: used.length, firstMedian, lastMedian, limit };
}
