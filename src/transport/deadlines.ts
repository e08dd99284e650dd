// One timer for many same-length deadlines (request bodies): no setTimeout/clearTimeout per request.
import type { Clock, TimerHandle } from "../runtime/clock.ts";

/** A pending deadline; `cancel` once the guarded work finished (cheap: the entry is dropped lazily). */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  readonly atMs: number;
  readonly onExpired: () => void;
  done: boolean;
}

/**
 * Deadlines of one fixed length, so they expire in the order they were added: a FIFO whose head is the next to
 * expire, and a single timer armed for that head. Finished entries are skipped when they reach the head, so
 * `add` + `cancel` cost an object and an array slot instead of a timer each. Memory: entries live until their
 * deadline passes (at most timeoutMs worth of requests).
 */
export class DeadlineQueue {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #entries: Entry[] = [];
  /** Index of the head in #entries (shifted lazily: Array.shift is O(n)). */
  #head = 0;
  #timer: TimerHandle | undefined;

  constructor(clock: Clock, timeoutMs: number) {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError("timeoutMs must be a positive integer");
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Entries not yet expired or compacted (finished ones included until they reach the head). */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** Calls `onExpired` once timeoutMs from now unless cancelled first. */
  add(onExpired: () => void): Deadline {
    const entry: Entry = {
      atMs: this.#clock.monotonicMs() + this.#timeoutMs,
      onExpired,
      done: false,
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        // Work mostly finishes in arrival order: dropping finished heads now keeps the queue short.
        if (this.#entries[this.#head] === entry) this.#dropFinishedHeads();
      },
    };
    this.#entries.push(entry);
    if (this.#timer === undefined) this.#arm(entry.atMs);
    return entry;
  }

  /** Stops the timer; pending deadlines never fire. */
  clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#entries = [];
    this.#head = 0;
  }

  #arm(atMs: number): void {
    // unref: a pending body deadline must not keep the process alive on its own.
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, atMs - this.#clock.monotonicMs()), { unref: true });
  }

  #fire(): void {
    this.#timer = undefined;
    const nowMs = this.#clock.monotonicMs();
    const expired: Entry[] = [];
    for (let e = this.#entries[this.#head]; e !== undefined && (e.done || e.atMs <= nowMs); e = this.#entries[this.#head]) {
      this.#head++;
      if (!e.done) {
        e.done = true;
        expired.push(e);
      }
    }
    this.#compact();
    const next = this.#entries[this.#head];
    if (next !== undefined) this.#arm(next.atMs);
    // After the queue is consistent: a callback may add a deadline.
    for (const e of expired) e.onExpired();
  }

  #dropFinishedHeads(): void {
    while (this.#entries[this.#head]?.done === true) this.#head++;
    this.#compact();
  }

  /** Releases the consumed prefix (amortised O(1) per entry). */
  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
