// The actor system's single timer: re-armed to the earliest deadline, never keeps the process alive.
import type { Clock, TimerHandle } from "../../runtime/clock.ts";

/**
 * One timer for a whole actor system, however many actors it holds: callers ask for a wake-up
 * "no later than" some monotonic time, and only an earlier deadline re-arms it.
 */
export class SweepTimer {
  #handle: TimerHandle | null = null;
  #atMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: () => void,
  ) {}

  get armed(): boolean {
    return this.#handle !== null;
  }

  /** Ensures the timer fires no later than `atMs` (monotonic ms). */
  armBy(atMs: number): void {
    if (this.#atMs <= atMs) return;
    this.clear();
    this.#atMs = atMs;
    this.#handle = this.clock.setTimeout(() => {
      this.#handle = null;
      this.#atMs = Number.POSITIVE_INFINITY;
      this.onFire();
    }, Math.max(0, atMs - this.clock.monotonicMs()), { unref: true });
  }

  clear(): void {
    if (this.#handle !== null) this.clock.clearTimeout(this.#handle);
    this.#handle = null;
    this.#atMs = Number.POSITIVE_INFINITY;
  }
}
