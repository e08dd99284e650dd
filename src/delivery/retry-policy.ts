// Retry schedule: exponential backoff with full jitter (AWS "Exponential Backoff And Jitter"), as pure functions over an injected Random.
import type { Random } from "../runtime/random.ts";
import { checkInt } from "./errors.ts";

export interface RetryPolicyOptions {
  /** Backoff before the 2nd attempt is drawn from [0, baseMs); doubles each attempt. Default 1000, 1..3_600_000. */
  baseMs?: number;
  /** Upper bound of any single backoff. Default 300_000 (5 min), baseMs..86_400_000. */
  capMs?: number;
  /** Total attempts including the first; after the last failure the event goes to the DLQ. Default 8, 1..100. */
  maxAttempts?: number;
}

export interface RetryPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  readonly maxAttempts: number;
}

export function resolveRetryPolicy(o: RetryPolicyOptions = {}): RetryPolicy {
  const baseMs = checkInt("baseMs", o.baseMs ?? 1000, 1, 3_600_000);
  const capMs = checkInt("capMs", o.capMs ?? 300_000, baseMs, 86_400_000);
  const maxAttempts = checkInt("maxAttempts", o.maxAttempts ?? 8, 1, 100);
  return Object.freeze({ baseMs, capMs, maxAttempts });
}

/**
 * The ceiling of the backoff after `attemptsMade` failed attempts (>= 1): min(cap, base * 2^(attemptsMade-1)).
 * Computed without overflow for any attempt count.
 */
export function backoffCeilingMs(policy: RetryPolicy, attemptsMade: number): number {
  checkInt("attemptsMade", attemptsMade, 1, Number.MAX_SAFE_INTEGER);
  const exp = Math.min(attemptsMade - 1, 52); // 2^52 * base already dwarfs any cap
  return Math.min(policy.capMs, policy.baseMs * 2 ** exp);
}

/**
 * Full jitter: uniform in [0, ceiling]. Spreads retries of many events failing together so they do
 * not come back in waves (the thundering herd a plain exponential schedule produces).
 */
export function backoffMs(policy: RetryPolicy, attemptsMade: number, random: Random): number {
  const ceiling = backoffCeilingMs(policy, attemptsMade);
  return random.int(ceiling + 1);
}

/** True when an event that has made `attemptsMade` attempts may try again. */
export function canRetry(policy: RetryPolicy, attemptsMade: number): boolean {
  return attemptsMade < policy.maxAttempts;
}

/**
 * What to do after a failed (retryable) attempt: retry at nowMs + backoff, or give up.
 * `attemptsMade` includes the attempt that just failed.
 */
export function nextRetry(
  policy: RetryPolicy,
  attemptsMade: number,
  nowMs: number,
  random: Random,
): { retry: true; atMs: number } | { retry: false } {
  if (!canRetry(policy, attemptsMade)) return { retry: false };
  return { retry: true, atMs: nowMs + backoffMs(policy, attemptsMade, random) };
}
