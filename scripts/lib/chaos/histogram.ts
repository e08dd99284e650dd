// Latency histogram with log-spaced buckets (~1% relative error): bounded memory, mergeable, serialisable per second.

/** Bucket growth factor: a value is reported within +-1% of its true value. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Values below this (ms) share bucket 0; loopback latencies are never that small. */
const MIN_MS = 0.01;
/** Values above this (ms) are clamped: a request that long is a timeout anyway. */
const MAX_MS = 600_000;

export class LatencyHistogram {
  /** bucket index -> count (sparse: a second of load touches a few hundred buckets at most). */
  readonly #counts = new Map<number, number>();
  #total = 0;
  #maxMs = 0;

  get count(): number {
    return this.#total;
  }
  get maxMs(): number {
    return this.#maxMs;
  }

  add(valueMs: number, times = 1): void {
    if (!Number.isFinite(valueMs) || valueMs < 0) throw new RangeError(`latency must be a finite non-negative number, got ${valueMs}`);
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${times}`);
    const v = Math.min(valueMs, MAX_MS);
    const idx = bucketOf(v);
    this.#counts.set(idx, (this.#counts.get(idx) ?? 0) + times);
    this.#total += times;
    if (v > this.#maxMs) this.#maxMs = v;
  }

  merge(other: LatencyHistogram): void {
    for (const [idx, n] of other.#counts) this.#counts.set(idx, (this.#counts.get(idx) ?? 0) + n);
    this.#total += other.#total;
    if (other.#maxMs > this.#maxMs) this.#maxMs = other.#maxMs;
  }

  /** The value at quantile q (0..1, nearest rank), or NaN when empty. */
  percentile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0..1, got ${q}`);
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    const sorted = [...this.#counts.keys()].sort((a, b) => a - b);
    for (const idx of sorted) {
      seen += this.#counts.get(idx)!;
      if (seen >= rank) return Math.min(valueOf(idx), this.#maxMs);
    }
    return this.#maxMs;
  }

  /** [[bucket, count], ...] plus the max, for JSON lines between processes. */
  toJSON(): { b: [number, number][]; max: number } {
    return { b: [...this.#counts], max: this.#maxMs };
  }

  static fromJSON(j: { b: [number, number][]; max: number }): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [idx, n] of j.b) {
      if (!Number.isInteger(idx) || !Number.isInteger(n) || n < 1) throw new RangeError("bad histogram bucket");
      h.#counts.set(idx, (h.#counts.get(idx) ?? 0) + n);
      h.#total += n;
    }
    h.#maxMs = j.max;
    return h;
  }
}

function bucketOf(valueMs: number): number {
  return valueMs <= MIN_MS ? 0 : Math.ceil(Math.log(valueMs / MIN_MS) / LOG_GROWTH);
}

/** The midpoint (geometric) of a bucket: within 1% of anything that landed in it. */
function valueOf(idx: number): number {
  return idx === 0 ? MIN_MS : MIN_MS * GROWTH ** (idx - 0.5);
}
