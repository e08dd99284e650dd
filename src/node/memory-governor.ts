// Keeps resident memory near a soft limit: Bun's heap grows lazily with garbage, so past the limit a full GC runs when the heap grew.
import type { Clock, TimerHandle } from "../runtime/clock.ts";

/** What one sample reads: resident bytes, and the JS heap plus the native memory JS objects hold (garbage included). */
export interface MemorySample {
  rssBytes: number;
  heapBytes: number;
}

export interface MemoryGovernorOptions {
  clock: Clock;
  /** Resident bytes above which a collection may run (MEMORY_SOFT_LIMIT_BYTES). */
  softLimitBytes: number;
  /** How often memory is sampled (default 500 ms, 10..60_000): garbage piles up fast under load. */
  checkIntervalMs?: number;
  /** Least time between two forced collections (default 1000 ms, 0..600_000): a full GC pauses the event loop. */
  minGapMs?: number;
  /**
   * Collect only once the heap grew by this fraction over what the last forced collection left live (default 0.25,
   * 0..10). Above the limit with nothing new to free (a large live set), collecting again would only burn CPU.
   */
  heapGrowthRatio?: number;
  /** Injected for tests; default process.memoryUsage() (heapUsed + external). */
  sample?: () => MemorySample;
  /** Injected for tests; default Bun.gc(true). */
  collect?: () => void;
  /** Called after each forced collection with its duration (metrics: Bun reports no GC events of its own). */
  onCollected?: (seconds: number) => void;
}

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw new RangeError(`${name} must be in ${min}..${max}`);
  return value;
}

function processSample(): MemorySample {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapBytes: m.heapUsed + m.external };
}

/**
 * Samples memory on a timer. A collection runs when RSS is above the soft limit, the heap grew by heapGrowthRatio
 * since the last forced collection, and minGapMs passed since it. The RSS condition keeps small nodes from paying for
 * GCs they do not need; the growth condition keeps a node whose live set alone exceeds the limit from collecting in a
 * loop (the old governor ran a full GC every 5 s forever once live memory passed the limit, idle or not).
 */
export class MemoryGovernor {
  readonly #o: Required<MemoryGovernorOptions>;
  #timer: TimerHandle | null = null;
  #lastCollectMs = Number.NEGATIVE_INFINITY;
  /** Heap bytes right after the last forced collection (what it left live); 0 before the first. */
  #liveHeapBytes = 0;
  /** Forced collections so far (for metrics and tests). */
  collections = 0;

  constructor(o: MemoryGovernorOptions) {
    if (!Number.isFinite(o.softLimitBytes) || o.softLimitBytes <= 0) throw new RangeError("softLimitBytes must be positive");
    this.#o = {
      checkIntervalMs: 500,
      minGapMs: 1000,
      heapGrowthRatio: 0.25,
      sample: processSample,
      collect: () => Bun.gc(true),
      onCollected: () => {},
      ...o,
    };
    bounded("checkIntervalMs", this.#o.checkIntervalMs, 10, 60_000);
    bounded("minGapMs", this.#o.minGapMs, 0, 600_000);
    bounded("heapGrowthRatio", this.#o.heapGrowthRatio, 0, 10);
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
    if (nowMs - this.#lastCollectMs < this.#o.minGapMs) return false;
    const s = this.#o.sample();
    if (s.rssBytes <= this.#o.softLimitBytes) return false;
    if (s.heapBytes <= this.#liveHeapBytes * (1 + this.#o.heapGrowthRatio)) return false;
    this.#lastCollectMs = nowMs;
    const t0 = performance.now();
    this.#o.collect();
    this.collections++;
    this.#liveHeapBytes = this.#o.sample().heapBytes;
    this.#o.onCollected((performance.now() - t0) / 1000);
    return true;
  }

  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
