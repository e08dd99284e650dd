// Keeps resident memory near a soft limit: Bun's heap grows lazily with garbage, so past the limit a full GC runs when memory grew.
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
  /**
   * How often memory is sampled (default 200 ms, 10..60_000): under a burst of forwards RSS climbs ~50 MiB within a
   * second or two, so a slower sample sees the limit crossed only near the top of that climb.
   */
  checkIntervalMs?: number;
  /** Least time between two forced collections (default 250 ms, 0..600_000): a full GC pauses the event loop. */
  minGapMs?: number;
  /**
   * Most of the time spent in forced collections (default 0.1, 0.001..1): after one that paused the loop for d ms the
   * next waits at least d / maxPauseFraction ms. Scales the gap with the live heap (a bigger heap, a longer GC).
   */
  maxPauseFraction?: number;
  /**
   * Collect also once RSS grew by this many bytes over what it was right after the last forced collection (default
   * 16 MiB, 0..1 TiB; 0 disables). Under load RSS grows several times faster than heapUsed + external report (the
   * garbage's allocator pages are counted before the heap figures are), so heap growth alone triggers late.
   */
  rssGrowthBytes?: number;
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
 * Samples memory on a timer. A collection runs when RSS is above the soft limit, memory grew since the last forced
 * collection (the heap by heapGrowthRatio, or RSS by rssGrowthBytes), and the gap since it is at least minGapMs and
 * the pause budget (maxPauseFraction). The RSS condition keeps small nodes from paying for GCs they do not need; the
 * growth condition keeps a node whose live set alone exceeds the limit from collecting in a loop (the old governor
 * ran a full GC every 5 s forever once live memory passed the limit, idle or not); the budget bounds the CPU a burst
 * can cost (at most ~10% of the main thread by default).
 */
export class MemoryGovernor {
  readonly #o: Required<MemoryGovernorOptions>;
  #timer: TimerHandle | null = null;
  #lastCollectMs = Number.NEGATIVE_INFINITY;
  /** Heap bytes right after the last forced collection (what it left live); 0 before the first. */
  #liveHeapBytes = 0;
  /** RSS right after the last forced collection; 0 before the first. */
  #rssAfterBytes = 0;
  /** Least gap before the next collection: minGapMs, or longer when the last one paused long (pause budget). */
  #gapMs: number;
  /** Forced collections so far (for metrics and tests). */
  collections = 0;

  constructor(o: MemoryGovernorOptions) {
    if (!Number.isFinite(o.softLimitBytes) || o.softLimitBytes <= 0) throw new RangeError("softLimitBytes must be positive");
    this.#o = {
      checkIntervalMs: 200,
      minGapMs: 250,
      maxPauseFraction: 0.1,
      heapGrowthRatio: 0.25,
      rssGrowthBytes: 16 * 1024 * 1024,
      sample: processSample,
      collect: () => Bun.gc(true),
      onCollected: () => {},
      ...o,
    };
    bounded("checkIntervalMs", this.#o.checkIntervalMs, 10, 60_000);
    bounded("minGapMs", this.#o.minGapMs, 0, 600_000);
    bounded("heapGrowthRatio", this.#o.heapGrowthRatio, 0, 10);
    bounded("maxPauseFraction", this.#o.maxPauseFraction, 0.001, 1);
    bounded("rssGrowthBytes", this.#o.rssGrowthBytes, 0, 1024 ** 4);
    this.#gapMs = this.#o.minGapMs;
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
    if (nowMs - this.#lastCollectMs < this.#gapMs) return false;
    const s = this.#o.sample();
    if (s.rssBytes <= this.#o.softLimitBytes) return false;
    const heapGrew = s.heapBytes > this.#liveHeapBytes * (1 + this.#o.heapGrowthRatio);
    const rssGrew = this.#o.rssGrowthBytes > 0 && s.rssBytes > this.#rssAfterBytes + this.#o.rssGrowthBytes;
    if (!heapGrew && !rssGrew) return false;
    this.#lastCollectMs = nowMs;
    this.#o.collect();
    const pauseMs = this.#o.clock.monotonicMs() - nowMs; // the system clock is performance.now()
    this.collections++;
    const after = this.#o.sample();
    this.#liveHeapBytes = after.heapBytes;
    this.#rssAfterBytes = after.rssBytes;
    this.#gapMs = Math.max(this.#o.minGapMs, pauseMs / this.#o.maxPauseFraction);
    this.#o.onCollected(pauseMs / 1000);
    return true;
  }

  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
