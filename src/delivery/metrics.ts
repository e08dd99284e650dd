// Metrics hooks of the delivery pipeline: an interface the observability layer implements, a no-op, and plain counters for tests and aggregation.
import type { BreakerMode, BreakerTransition } from "./breaker-types.ts";
import type { DeliveryKind } from "./event-queue.ts";
import type { AttemptResult } from "./outcome.ts";

/** Final or intermediate fate of an event after one dispatch. */
export type DeliveryOutcome =
  | "delivered" // 2xx: removed from the queue
  | "retry_scheduled" // retryable failure, attempts left
  | "dead_lettered" // permanent failure or attempts exhausted
  | "deferred" // breaker refused: waiting, not an attempt
  | "cancelled"; // nothing to send any more (e.g. webhook unregistered)

export interface AttemptSample {
  readonly destination: string;
  readonly kind: DeliveryKind;
  readonly result: AttemptResult;
  readonly status: number | null;
  /** Monotonic duration of the HTTP call. */
  readonly latencyMs: number;
}

export interface OutcomeSample {
  readonly destination: string;
  readonly kind: DeliveryKind;
  readonly outcome: DeliveryOutcome;
}

/**
 * Implemented by src/observability (Prometheus): counters deliveries{outcome}, attempts{result},
 * a latency histogram, breaker transitions{from,to} and state per destination, a DLQ size gauge.
 * Calls are synchronous and must not throw (the dispatcher does not guard them).
 */
export interface DeliveryMetrics {
  attempt(s: AttemptSample): void;
  outcome(s: OutcomeSample): void;
  breakerTransition(t: BreakerTransition): void;
  breakerMode(mode: BreakerMode): void;
  /** Current DLQ size, reported after every change the dispatcher makes. */
  dlqSize(n: number): void;
  /** An operator force-closed a breaker (`admin breaker reset`); optional for sinks that do not count it. */
  breakerReset?(r: { destination: string; store: BreakerMode }): void;
}

export const noopDeliveryMetrics: DeliveryMetrics = Object.freeze({
  attempt() {},
  outcome() {},
  breakerTransition() {},
  breakerMode() {},
  dlqSize() {},
});

export interface DeliveryCountersSnapshot {
  attempts: Record<string, number>;
  outcomes: Record<string, number>;
  transitions: Record<string, number>;
  /** Operator resets by store ("shared" | "local"). */
  resets: Record<string, number>;
  latencyMsSum: number;
  latencyCount: number;
  dlqSize: number;
  breakerMode: BreakerMode | null;
}

/** Plain in-memory counters (label-free except the key): for tests, benchmarks and a /cluster/metrics sum. */
export class DeliveryCounters implements DeliveryMetrics {
  readonly #s: DeliveryCountersSnapshot = { attempts: {}, outcomes: {}, transitions: {}, resets: {}, latencyMsSum: 0, latencyCount: 0, dlqSize: 0, breakerMode: null };

  attempt(s: AttemptSample): void {
    bump(this.#s.attempts, s.result);
    this.#s.latencyMsSum += s.latencyMs;
    this.#s.latencyCount++;
  }
  outcome(s: OutcomeSample): void {
    bump(this.#s.outcomes, s.outcome);
  }
  breakerTransition(t: BreakerTransition): void {
    bump(this.#s.transitions, `${t.from}->${t.to}`);
  }
  breakerMode(mode: BreakerMode): void {
    this.#s.breakerMode = mode;
  }
  breakerReset(r: { destination: string; store: BreakerMode }): void {
    bump(this.#s.resets, r.store);
  }
  dlqSize(n: number): void {
    this.#s.dlqSize = n;
  }
  snapshot(): DeliveryCountersSnapshot {
    return structuredClone(this.#s);
  }
}

/** Fans every call out to several sinks (e.g. Prometheus and DeliveryCounters). */
export function teeMetrics(...sinks: DeliveryMetrics[]): DeliveryMetrics {
  return {
    attempt: (s) => sinks.forEach((m) => m.attempt(s)),
    outcome: (s) => sinks.forEach((m) => m.outcome(s)),
    breakerTransition: (t) => sinks.forEach((m) => m.breakerTransition(t)),
    breakerMode: (mode) => sinks.forEach((m) => m.breakerMode(mode)),
    dlqSize: (n) => sinks.forEach((m) => m.dlqSize(n)),
    breakerReset: (r) => sinks.forEach((m) => m.breakerReset?.(r)),
  };
}

function bump(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1;
}
