// Token buckets: one per connection (HTTP keep-alive connection or WebSocket), refilled continuously.
import type { Clock } from "../runtime/clock.ts";

/** A single bucket holding up to `burst` tokens, refilled at `ratePerSecond`. */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    nowMs: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError("token bucket needs ratePerSecond > 0 and burst >= 1");
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Takes one token: 0 when allowed, else the ms until one is available. */
  take(nowMs: number): number {
    const elapsedMs = Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = nowMs;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsedMs * this.ratePerSecond) / 1000);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond);
  }
}

export interface KeyedLimiterOptions {
  ratePerSecond: number;
  /** Default: ratePerSecond (one second of burst). */
  burst?: number;
  /** Most keys tracked; the least recently used bucket is forgotten beyond it. Default 50_000. */
  maxKeys?: number;
  clock: Clock;
}

/**
 * Buckets by key (e.g. `ip:port` of the TCP connection). Memory is bounded by maxKeys: forgetting
 * a bucket only resets it to full, the same as a new connection would get.
 */
export class KeyedLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #clock: Clock;

  constructor(opts: KeyedLimiterOptions) {
    this.#rate = opts.ratePerSecond;
    this.#burst = opts.burst ?? Math.max(1, opts.ratePerSecond);
    this.#maxKeys = opts.maxKeys ?? 50_000;
    if (!Number.isInteger(this.#maxKeys) || this.#maxKeys < 1) throw new RangeError("maxKeys must be a positive integer");
    this.#clock = opts.clock;
  }

  /** 0 when allowed, else ms to wait. */
  take(key: string): number {
    const nowMs = this.#clock.monotonicMs();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#rate, this.#burst, nowMs);
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
    } else {
      this.#buckets.delete(key); // re-insert: Map order becomes recency order
    }
    this.#buckets.set(key, bucket);
    return bucket.take(nowMs);
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** A fresh bucket with this limiter's parameters (for a WebSocket connection). */
  newBucket(): TokenBucket {
    return new TokenBucket(this.#rate, this.#burst, this.#clock.monotonicMs());
  }
}
