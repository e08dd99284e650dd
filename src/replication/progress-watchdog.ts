// Detects a consumer that stopped advancing while its source still has more: no progress for stallTimeoutMs while
// `behind()` says there is more to read. Used by PartitionReplica to reopen an ordered consumer whose server died.
import type { Clock, TimerHandle } from "../runtime/clock.ts";

export interface ProgressWatchdogOptions {
  clock: Clock;
  /** Pause between looks. */
  intervalMs: number;
  /** Behind with no progress for this long = stalled. */
  stallTimeoutMs: number;
  /** A value that changes whenever the consumer advances (only compared for equality). */
  progress: () => number;
  /**
   * Asked only when nothing advanced since the last look: is there more to read? A rejection means "cannot
   * tell now" (e.g. a stream leader election): the stall clock keeps running, so a stall is acted on as soon
   * as the source answers again.
   */
  behind: () => Promise<boolean>;
  /** Called once per detected stall; the stall clock then restarts, giving the remedy a full timeout. */
  onStall: () => void;
}

export class ProgressWatchdog {
  private timer: TimerHandle | null = null;
  private stopped = false;
  private lastProgress: number;
  private lastProgressAtMs: number;
  stallsDetected = 0;

  constructor(private readonly o: ProgressWatchdogOptions) {
    if (!(o.intervalMs > 0) || !(o.stallTimeoutMs > 0)) throw new RangeError("intervalMs and stallTimeoutMs must be positive");
    this.lastProgress = o.progress();
    this.lastProgressAtMs = o.clock.monotonicMs();
  }

  start(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.look().finally(() => {
        this.timer = null;
        this.start();
      });
    }, this.o.intervalMs, { unref: true });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** One look (exposed for tests driving a manual clock). */
  async look(): Promise<void> {
    if (this.stopped) return;
    const now = this.o.clock.monotonicMs();
    const p = this.o.progress();
    if (p !== this.lastProgress) {
      this.lastProgress = p;
      this.lastProgressAtMs = now;
      return;
    }
    let behind: boolean;
    try {
      behind = await this.o.behind();
    } catch {
      return; // unknown: keep the stall clock running
    }
    if (this.stopped) return;
    if (!behind || this.o.progress() !== p) {
      this.lastProgressAtMs = this.o.clock.monotonicMs(); // idle and up to date, or it moved meanwhile
      this.lastProgress = this.o.progress();
      return;
    }
    if (this.o.clock.monotonicMs() - this.lastProgressAtMs >= this.o.stallTimeoutMs) {
      this.stallsDetected++;
      this.lastProgressAtMs = this.o.clock.monotonicMs();
      this.o.onStall();
    }
  }
}
