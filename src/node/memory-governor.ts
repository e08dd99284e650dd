// Keeps resident memory near a soft limit: Bun's heap grows lazily with garbage, so past the limit a full GC runs, rate-limited.
import type { Clock, TimerHandle } from "../runtime/clock.ts";

export interface MemoryGovernorOptions {
  clock: Clock;
  /** Resident bytes above which a collection runs (MEMORY_SOFT_LIMIT_BYTES). */
  softLimitBytes: number;
  /** How often RSS is sampled (default 1000 ms). */
  checkIntervalMs?: number;
  /** Least time between two forced collections (default 5000 ms): a full GC pauses the event loop. */
  minGapMs?: number;
  /** Injected for tests; default process.memoryUsage.rss and Bun.gc(true). */
  rssBytes?: () => number;
  collect?: () => void;
  /** Called after each forced collection with its duration (metrics: Bun reports no GC events of its own). */
  onCollected?: (seconds: number) => void;
}

/** Samples RSS on a timer; past the soft limit (and not within minGapMs of the last one) runs one full collection. */
export class MemoryGovernor {
  readonly #o: Required<MemoryGovernorOptions>;
  #timer: TimerHandle | null = null;
  #lastCollectMs = Number.NEGATIVE_INFINITY;
  /** Forced collections so far (for metrics and tests). */
  collections = 0;

  constructor(o: MemoryGovernorOptions) {
    if (!Number.isFinite(o.softLimitBytes) || o.softLimitBytes <= 0) throw new RangeError("softLimitBytes must be positive");
    this.#o = {
      checkIntervalMs: 1000,
      minGapMs: 5000,
      rssBytes: () => process.memoryUsage.rss(),
      collect: () => Bun.gc(true),
      onCollected: () => {},
      ...o,
    };
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = (): void => {
      this.check();
      this.#timer = this.#o.clock.setTimeout(tick, this.#o.checkIntervalMs, { unref: true });
    };
    this.#timer = this.#o.clock.setTimeout(tick, this.#o.checkIntervalMs, { unref: true });
  }

  /** One sample; returns true when it collected. */
  check(): boolean {
    const nowMs = this.#o.clock.monotonicMs();
    if (this.#o.rssBytes() <= this.#o.softLimitBytes) return false;
    if (nowMs - this.#lastCollectMs < this.#o.minGapMs) return false;
    this.#lastCollectMs = nowMs;
    const t0 = performance.now();
    this.#o.collect();
    this.collections++;
    this.#o.onCollected((performance.now() - t0) / 1000);
    return true;
  }

  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
