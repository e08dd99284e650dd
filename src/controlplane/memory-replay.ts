// Bounded in-memory replay records: the per-node stand-in while the replay bucket is unreachable.

/**
 * Keys are the same hashed `r.` keys as in KV. Insertion order approximates expiry order (one
 * replay window for everybody), so expired records are dropped from the front and, at the bound,
 * the oldest record is evicted (counted: an evicted record no longer blocks a replay).
 */
export class BoundedReplayMemory {
  readonly #seen = new Map<string, number>(); // key -> expiresAtMs
  readonly #maxEntries: number;
  evictions = 0;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    this.#maxEntries = maxEntries;
  }

  /** true = first time (recorded until expiresAtMs); false = seen and not expired at nowMs. */
  checkAndRecord(key: string, nowMs: number, expiresAtMs: number): boolean {
    if (this.seen(key, nowMs)) return false;
    this.#seen.delete(key); // re-insert at the back
    this.#seen.set(key, expiresAtMs);
    this.#trim(nowMs);
    return true;
  }

  /** A record for `key` that has not expired at nowMs. */
  seen(key: string, nowMs: number): boolean {
    const exp = this.#seen.get(key);
    return exp !== undefined && exp > nowMs;
  }

  get size(): number {
    return this.#seen.size;
  }

  #trim(nowMs: number): void {
    for (const [key, exp] of this.#seen) {
      if (exp > nowMs && this.#seen.size <= this.#maxEntries) break;
      if (exp > nowMs) this.evictions++;
      this.#seen.delete(key);
    }
  }
}
