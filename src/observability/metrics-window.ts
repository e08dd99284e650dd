// Miss ratio over the last N lookups: a fixed ring of outcomes with a running count, O(1) per lookup.

export class RatioWindow {
  readonly size: number;
  readonly #ring: Uint8Array;
  #next = 0;
  #filled = 0;
  #hits = 0;

  /** `size`: how many recent events the ratio covers (1..1_000_000). */
  constructor(size = 1000) {
    if (!Number.isInteger(size) || size < 1 || size > 1_000_000) throw new RangeError("window size must be an integer in 1..1000000");
    this.size = size;
    this.#ring = new Uint8Array(size);
  }

  /** Records one event; `flag` true counts towards the ratio (a miss). */
  record(flag: boolean): void {
    const v = flag ? 1 : 0;
    if (this.#filled === this.size) this.#hits -= this.#ring[this.#next]!;
    else this.#filled++;
    this.#ring[this.#next] = v;
    this.#hits += v;
    this.#next = this.#next + 1 === this.size ? 0 : this.#next + 1;
  }

  /**
   * Records `unflagged` + `flagged` events whose order is unknown (counter deltas). Only the last `size` can be in
   * the window, so larger batches are scaled down keeping their ratio: the window then holds just this batch.
   */
  recordMany(unflagged: number, flagged: number): void {
    if (!Number.isInteger(unflagged) || !Number.isInteger(flagged) || unflagged < 0 || flagged < 0) throw new RangeError("counts must be non-negative integers");
    const total = unflagged + flagged;
    const keep = Math.min(total, this.size);
    const f = Math.round((flagged * keep) / Math.max(1, total));
    for (let i = 0; i < keep - f; i++) this.record(false);
    for (let i = 0; i < f; i++) this.record(true);
  }

  /** Flagged share of the recorded events in the window; 0 before any event (no lookups, no misses). */
  get ratio(): number {
    return this.#filled === 0 ? 0 : this.#hits / this.#filled;
  }

  /** Events currently in the window (at most `size`). */
  get count(): number {
    return this.#filled;
  }
}
