// Failure counting and the fallback mode: N consecutive KV failures enter it, any success (a call or a probe) leaves it.
import type { TimerHandle } from "../runtime/clock.ts";
import type { ResolvedFallback } from "./options.ts";
import { withTimeout } from "./kv-call.ts";

export type ControlPlaneMode = "normal" | "fallback";

export interface BreakerOptions extends ResolvedFallback {
  /** For logs only. */
  name: string;
  /** A cheap KV round trip (e.g. bucket status); resolves iff the control plane answered. */
  probe: () => Promise<unknown>;
}

/**
 * One per store. It never blocks calls itself: stores ask `mode` and report every KV outcome.
 * `lastSyncMonoMs` is the monotonic start time of the latest call the server answered: the last
 * moment we know our view of the bucket (fed by the watch on the same connection) was current.
 */
export class FallbackBreaker {
  mode: ControlPlaneMode = "normal";
  consecutiveFailures = 0;
  /** How many times fallback mode was entered (metric `edge_fallback_triggered`). */
  triggered = 0;
  lastSyncMonoMs: number;
  readonly #o: BreakerOptions;
  readonly #listeners = new Set<(mode: ControlPlaneMode) => void>();
  #timer: TimerHandle | undefined;
  #probing: Promise<boolean> | undefined;
  #stopped = false;

  constructor(o: BreakerOptions) {
    this.#o = o;
    this.lastSyncMonoMs = o.clock.monotonicMs();
  }

  /** Report an answered call that started at `startedMonoMs`. */
  success(startedMonoMs: number): void {
    this.consecutiveFailures = 0;
    if (startedMonoMs > this.lastSyncMonoMs) this.lastSyncMonoMs = startedMonoMs;
    if (this.mode === "fallback") this.#set("normal", {});
  }

  /** Report an unanswered call (error or timeout). CAS conflicts are answers, not failures. */
  failure(cause: unknown): void {
    this.consecutiveFailures++;
    if (this.mode === "normal" && this.consecutiveFailures >= this.#o.fallbackAfterFailures) {
      this.triggered++;
      this.#set("fallback", { failures: this.consecutiveFailures, error: errorName(cause) });
    }
  }

  /** A method, not a field read, so TypeScript does not narrow it across a failure() call. */
  inFallback(): boolean {
    return this.mode === "fallback";
  }

  /** Milliseconds since the view was last known current. */
  staleForMs(): number {
    return this.#o.clock.monotonicMs() - this.lastSyncMonoMs;
  }

  onModeChange(fn: (mode: ControlPlaneMode) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Starts the periodic probe (detects outages nobody's calls hit, and the end of an outage). */
  start(): void {
    this.#schedule();
  }

  /** One probe now (coalesced with a running one); true if the control plane answered. */
  probeNow(): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  async #probe(): Promise<boolean> {
    const started = this.#o.clock.monotonicMs();
    try {
      await withTimeout(this.#o.clock, this.#o.kvTimeoutMs, this.#o.probe);
    } catch (e) {
      if (!this.#stopped) this.failure(e);
      return false;
    }
    if (!this.#stopped) this.success(started);
    return true;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(
      () => {
        this.#timer = undefined;
        void this.probeNow().finally(() => this.#schedule());
      },
      this.#o.probeIntervalMs,
      { unref: true },
    );
  }

  #set(mode: ControlPlaneMode, detail: object): void {
    this.mode = mode;
    const msg = mode === "fallback" ? "control plane unreachable: entering fallback mode" : "control plane reachable: leaving fallback mode";
    if (mode === "fallback") this.#o.log?.warn({ store: this.#o.name, ...detail }, msg);
    else this.#o.log?.info({ store: this.#o.name }, msg);
    for (const fn of this.#listeners) fn(mode);
  }
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}
