// Event-loop lag sampler: how late a periodic timer fires, kept over a short window for the readiness check.
import type { Clock, TimerHandle } from "../runtime/clock.ts";

export interface LagMonitorOptions {
  clock: Clock;
  /** Sampling period. Default 500 ms, bounds 10..60_000. */
  intervalMs?: number;
  /** Samples kept; the reported lag is their maximum. Default 4, bounds 1..100. */
  window?: number;
}

export class LagMonitor {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #samples: number[] = [];
  readonly #window: number;
  #timer: TimerHandle | undefined;
  #expectedAtMs = 0;

  constructor(opts: LagMonitorOptions) {
    this.#clock = opts.clock;
    this.#intervalMs = opts.intervalMs ?? 500;
    this.#window = opts.window ?? 4;
    if (!Number.isInteger(this.#intervalMs) || this.#intervalMs < 10 || this.#intervalMs > 60_000) throw new RangeError("intervalMs must be in 10..60000");
    if (!Number.isInteger(this.#window) || this.#window < 1 || this.#window > 100) throw new RangeError("window must be in 1..100");
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Largest recent lag in ms (0 before the first sample). */
  get lagMs(): number {
    return this.#samples.length === 0 ? 0 : Math.max(...this.#samples);
  }

  #schedule(): void {
    this.#expectedAtMs = this.#clock.monotonicMs() + this.#intervalMs;
    const handle = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
    // A sampler must never keep the process alive on its own.
    (handle as { native?: { unref?: () => void } }).native?.unref?.();
    this.#timer = handle;
  }

  #tick(): void {
    this.#samples.push(Math.max(0, this.#clock.monotonicMs() - this.#expectedAtMs));
    if (this.#samples.length > this.#window) this.#samples.shift();
    this.#schedule();
  }
}
