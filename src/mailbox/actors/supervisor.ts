// Restart policy of one actor: counts crashes in a sliding window, picks a jittered backoff or escalates.
import type { Random } from "../../runtime/random.ts";
import { invariant } from "./errors.ts";
import type { RestartPolicy } from "./options.ts";

export type CrashDecision = { kind: "restart"; delayMs: number } | { kind: "escalate" };

/**
 * "Full jitter" exponential backoff (AWS architecture blog): the cap doubles per attempt up to
 * `maxMs` and the delay is uniform in [0, cap). Jitter spreads restarts of many actors that
 * crashed together (e.g. on a storage hiccup) so they do not stampede the store at once.
 * `attempt` is 1 for the first restart.
 */
export function fullJitterBackoffMs(attempt: number, baseMs: number, maxMs: number, random: Random): number {
  invariant(Number.isInteger(attempt) && attempt >= 1, "backoff attempt is a positive integer");
  // 2 ** 52 overflows nothing but exceeds any sane max; clamp the exponent so the product stays finite.
  const capMs = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 52));
  const delayMs = Math.floor(random.next() * capMs);
  invariant(delayMs >= 0 && delayMs <= maxMs, "backoff delay within [0, maxMs]");
  return delayMs;
}

/**
 * Crash bookkeeping for one actor. Keeps only crash times inside the window, so its size is
 * bounded by maxRestarts + 1.
 */
export class RestartTracker {
  readonly #policy: RestartPolicy;
  readonly #random: Random;
  #crashTimesMs: number[] = [];

  constructor(policy: RestartPolicy, random: Random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Crashes currently inside the window (as of the last `recordCrash`). */
  get recentCrashes(): number {
    return this.#crashTimesMs.length;
  }

  /**
   * Records a crash at monotonic time `nowMs`. More than `maxRestarts` crashes within
   * `windowMs` (counting this one) escalates; otherwise restart after a jittered backoff.
   */
  recordCrash(nowMs: number): CrashDecision {
    const windowStartMs = nowMs - this.#policy.windowMs;
    this.#crashTimesMs = this.#crashTimesMs.filter((t) => t > windowStartMs);
    this.#crashTimesMs.push(nowMs);
    const crashes = this.#crashTimesMs.length;
    if (crashes > this.#policy.maxRestarts) return { kind: "escalate" };
    invariant(crashes <= this.#policy.maxRestarts, "crash history bounded by maxRestarts");
    const { backoffBaseMs, backoffMaxMs } = this.#policy;
    return { kind: "restart", delayMs: fullJitterBackoffMs(crashes, backoffBaseMs, backoffMaxMs, this.#random) };
  }

  /** Forgets all crashes (after an escalation's cool-down: the actor starts with a clean slate). */
  reset(): void {
    this.#crashTimesMs = [];
  }
}
