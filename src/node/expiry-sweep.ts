// Periodic TTL expiry: deletes expired messages in bounded batches, catching up quickly when a batch was full.
import type { Logger } from "../observability/logger.ts";
import type { Clock, TimerHandle } from "../runtime/clock.ts";
import type { MessageStore } from "../storage/types.ts";

export interface ExpirySweepOptions {
  messages: Pick<MessageStore, "expire">;
  clock: Clock;
  logger: Logger;
  /** Pause between sweeps when the last one found less than a full batch. Default 60_000, bounds 10..86_400_000. */
  intervalMs?: number;
  /** Most messages deleted per tick, so one sweep never holds the database for long. Default 1000, bounds 1..100_000. */
  batchSize?: number;
  /** Pause after a full batch (more are probably due). Default 50 ms. */
  catchUpDelayMs?: number;
}

function bounded(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

export class ExpirySweep {
  readonly #o: Required<Omit<ExpirySweepOptions, "messages" | "clock" | "logger">> & ExpirySweepOptions;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  /** Messages expired since start (for tests and metrics). */
  expiredTotal = 0;

  constructor(opts: ExpirySweepOptions) {
    this.#o = {
      ...opts,
      intervalMs: bounded("intervalMs", opts.intervalMs ?? 60_000, 10, 86_400_000),
      batchSize: bounded("batchSize", opts.batchSize ?? 1000, 1, 100_000),
      catchUpDelayMs: bounded("catchUpDelayMs", opts.catchUpDelayMs ?? 50, 0, 60_000),
    };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(this.#o.intervalMs);
  }

  /** Cancels the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One batch now; resolves to the number expired (errors are logged, never thrown). */
  async sweepOnce(): Promise<number> {
    try {
      const n = await this.#o.messages.expire(this.#o.clock.nowMs(), this.#o.batchSize);
      this.expiredTotal += n;
      if (n > 0) this.#o.logger.debug({ expired: n }, "expired messages deleted");
      return n;
    } catch (err) {
      this.#o.logger.warn({ err: err instanceof Error ? err.name : "unknown" }, "expiry sweep failed; will retry");
      return 0;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const handle = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.sweepOnce().then((n) => {
        this.#running = undefined;
        this.#schedule(n >= this.#o.batchSize ? this.#o.catchUpDelayMs : this.#o.intervalMs);
      });
    }, delayMs);
    // The sweep alone must not keep the process alive.
    (handle as { native?: { unref?: () => void } }).native?.unref?.();
    this.#timer = handle;
  }
}
