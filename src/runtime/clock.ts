// Injectable time source with timers: systemClock for production, ManualClock for deterministic tests.

/** Opaque handle returned by `Clock.setTimeout`; only meaningful to the clock that created it. */
export type TimerHandle = object;

/**
 * Time and timers, injected so that nothing under test reads `Date.now()` or calls the global
 * `setTimeout` directly.
 */
export interface Clock {
  /** Wall-clock time in ms since the Unix epoch (may jump; use for timestamps stored or sent). */
  nowMs(): number;
  /** Monotonic time in ms from an arbitrary origin (never goes back; use for durations and timeouts). */
  monotonicMs(): number;
  /**
   * Runs `fn` once after `delayMs` (>= 0) of monotonic time. `unref: true` marks a background timer
   * that must not keep the process alive (sweeps, housekeeping); clocks without processes ignore it.
   */
  setTimeout(fn: () => void, delayMs: number, opts?: TimerOptions): TimerHandle;
  /** Cancels a pending timer; a no-op for fired, cancelled or unknown handles. */
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerOptions {
  unref?: boolean;
}

/** Largest delay the platform timer accepts (2^31-1 ms, ~24.8 days); longer delays are a bug, not a wait. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

function checkDelay(delayMs: number): void {
  if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_TIMER_DELAY_MS) {
    throw new RangeError(`timer delay must be within 0..${MAX_TIMER_DELAY_MS} ms, got ${delayMs}`);
  }
}

type NativeTimer = ReturnType<typeof globalThis.setTimeout>;

/** The real clock: `Date.now()`, `performance.now()` and the global timers. */
export const systemClock: Clock = Object.freeze({
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout(fn: () => void, delayMs: number, opts?: TimerOptions): TimerHandle {
    checkDelay(delayMs);
    const native = globalThis.setTimeout(fn, delayMs);
    if (opts?.unref === true) native.unref();
    // Wrapped in an object so handles from this clock and a ManualClock are never confused.
    return { native };
  },
  clearTimeout(handle: TimerHandle): void {
    const native = (handle as { native?: NativeTimer }).native;
    if (native !== undefined) globalThis.clearTimeout(native);
  },
});

interface ManualTimer {
  readonly dueMs: number;
  /** Insertion order: timers due at the same instant fire in the order they were set. */
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A clock that only moves when told to. `advance` moves both wall and monotonic time and fires
 * due timers in due order (timers set by a firing callback fire too if they fall inside the
 * window). `set` moves only the wall clock, to simulate a clock jump.
 */
export class ManualClock implements Clock {
  #wallMs: number;
  #monoMs: number;
  #seq = 0;
  readonly #timers = new Map<TimerHandle, ManualTimer>();

  constructor(opts: { startMs?: number; monotonicStartMs?: number } = {}) {
    this.#wallMs = opts.startMs ?? Date.UTC(2025, 0, 1);
    this.#monoMs = opts.monotonicStartMs ?? 0;
  }

  nowMs(): number {
    return this.#wallMs;
  }

  monotonicMs(): number {
    return this.#monoMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    checkDelay(delayMs);
    const handle: TimerHandle = {};
    this.#timers.set(handle, { dueMs: this.#monoMs + delayMs, seq: this.#seq++, fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Monotonic time at which the next timer fires, or null if none is pending. */
  nextTimerAtMs(): number | null {
    return this.#peek()?.[1].dueMs ?? null;
  }

  /** Sets the wall clock only (monotonic time and timers are unaffected). */
  set(wallMs: number): void {
    if (!Number.isFinite(wallMs)) throw new RangeError(`wall time must be finite, got ${wallMs}`);
    this.#wallMs = wallMs;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way synchronously, with the clock
   * reading each timer's due time while it runs. Returns the number of timers fired.
   * A callback that throws propagates; the clock stays at that timer's due time.
   */
  advance(ms: number): number {
    const targetMs = this.#checkAdvance(ms);
    let fired = 0;
    for (let next = this.#peek(); next && next[1].dueMs <= targetMs; next = this.#peek()) {
      this.#fire(next);
      fired++;
    }
    this.#moveTo(targetMs);
    return fired;
  }

  /**
   * Like `advance`, but drains pending promise jobs before and after each timer so async code
   * awaiting a timer (e.g. `await sleep(clock, 100)`) gets to run and set follow-up timers.
   */
  async advanceAsync(ms: number): Promise<number> {
    const targetMs = this.#checkAdvance(ms);
    let fired = 0;
    await drainMicrotasks();
    for (let next = this.#peek(); next && next[1].dueMs <= targetMs; next = this.#peek()) {
      this.#fire(next);
      fired++;
      await drainMicrotasks();
    }
    this.#moveTo(targetMs);
    await drainMicrotasks();
    return fired;
  }

  /** Fires timers until none is pending (bounded, so a self-rescheduling timer cannot hang a test). */
  async runAllAsync(maxTimers = 10_000): Promise<number> {
    let fired = 0;
    await drainMicrotasks();
    for (let next = this.#peek(); next; next = this.#peek()) {
      if (fired >= maxTimers) throw new Error(`runAllAsync: more than ${maxTimers} timers fired`);
      this.#fire(next);
      fired++;
      await drainMicrotasks();
    }
    return fired;
  }

  #checkAdvance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance needs a finite ms >= 0, got ${ms}`);
    return this.#monoMs + ms;
  }

  #fire([handle, timer]: [TimerHandle, ManualTimer]): void {
    this.#timers.delete(handle);
    this.#moveTo(timer.dueMs);
    timer.fn();
  }

  #moveTo(monoMs: number): void {
    if (monoMs <= this.#monoMs) return; // monotonic time never goes back
    this.#wallMs += monoMs - this.#monoMs;
    this.#monoMs = monoMs;
  }

  /** Earliest pending timer. Linear scan: tests hold few timers, and simplicity beats a heap here. */
  #peek(): [TimerHandle, ManualTimer] | undefined {
    let best: [TimerHandle, ManualTimer] | undefined;
    for (const entry of this.#timers) {
      const t = entry[1];
      if (!best || t.dueMs < best[1].dueMs || (t.dueMs === best[1].dueMs && t.seq < best[1].seq)) best = entry;
    }
    return best;
  }
}

/**
 * Lets queued promise continuations run. A macrotask boundary (setImmediate) drains the whole
 * microtask queue, however deep the await chains are; it does not advance any ManualClock.
 */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves after `delayMs` of `clock` time; rejects with the signal's reason if aborted first. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
