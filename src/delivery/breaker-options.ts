// Options of the distributed breaker, with defaults and bounds.
import { systemClock, type Clock } from "../runtime/clock.ts";
import { cryptoRandom, type Random } from "../runtime/random.ts";
import type { BreakerRules } from "./breaker-logic.ts";
import { MAX_FAILURE_THRESHOLD } from "./breaker-record.ts";
import type { BreakerStore } from "./breaker-store.ts";
import type { BreakerMode, BreakerTransition } from "./breaker-types.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";

export interface BreakerOptions {
  /** This node's id (recorded in reservations for diagnostics). */
  nodeId: string;
  /** The cluster-wide store (KvBreakerStore); omit or null for single-node mode (in-memory only). */
  shared?: BreakerStore | null;
  clock?: Clock;
  /** Source of reservation tokens (default node:crypto). */
  random?: Random;
  /** BREAKER_FAILURE_THRESHOLD: consecutive failures cluster-wide that open the breaker. Default 5, 1..1000. */
  failureThreshold?: number;
  /** BREAKER_OPEN_MS: how long it stays open before one probe. Default 300_000, 1..86_400_000. */
  openMs?: number;
  /** Lifetime of a reservation or probe (must exceed the dispatcher's call timeout). Default 120_000, 1_000..3_600_000. */
  holderTtlMs?: number;
  /** Retry hint when refused for lack of a slot or because a probe is running. Default 250, 1..600_000. */
  recheckMs?: number;
  /** Consecutive shared-store failures that switch this node to its in-memory breaker. Default 3, 1..100. */
  fallbackAfterFailures?: number;
  /** How often the shared store is tried while in fallback. Default 1000, 10..600_000. */
  probeIntervalMs?: number;
  /** CAS conflicts tolerated in one operation before giving up (refusal "contention"). Default 200, 1..10_000. */
  maxCasRetries?: number;
  /** Called once per transition, by the node whose write made it (so cluster-wide counts are exact). */
  onTransition?: (t: BreakerTransition) => void;
  onModeChange?: (mode: BreakerMode) => void;
  /** A shared-store call failed (timeout, connection, server error); the operation is retried or falls back. For logs. */
  onStoreError?: (destination: string, err: Error) => void;
}

export interface ResolvedBreakerOptions {
  readonly nodeId: string;
  readonly shared: BreakerStore | null;
  readonly clock: Clock;
  readonly random: Random;
  readonly rules: BreakerRules;
  readonly fallbackAfterFailures: number;
  readonly probeIntervalMs: number;
  readonly maxCasRetries: number;
  readonly onTransition: (t: BreakerTransition) => void;
  readonly onModeChange: (mode: BreakerMode) => void;
  readonly onStoreError: (destination: string, err: Error) => void;
}

export function resolveBreakerOptions(o: BreakerOptions): ResolvedBreakerOptions {
  if (typeof o.nodeId !== "string" || o.nodeId.length === 0 || o.nodeId.length > 256) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, "nodeId must be 1..256 characters");
  }
  const rules: BreakerRules = Object.freeze({
    failureThreshold: checkInt("failureThreshold", o.failureThreshold ?? 5, 1, MAX_FAILURE_THRESHOLD),
    openMs: checkInt("openMs", o.openMs ?? 300_000, 1, 86_400_000),
    holderTtlMs: checkInt("holderTtlMs", o.holderTtlMs ?? 120_000, 1_000, 3_600_000),
    recheckMs: checkInt("recheckMs", o.recheckMs ?? 250, 1, 600_000),
  });
  return {
    nodeId: o.nodeId,
    shared: o.shared ?? null,
    clock: o.clock ?? systemClock,
    random: o.random ?? cryptoRandom,
    rules,
    fallbackAfterFailures: checkInt("fallbackAfterFailures", o.fallbackAfterFailures ?? 3, 1, 100),
    probeIntervalMs: checkInt("probeIntervalMs", o.probeIntervalMs ?? 1000, 10, 600_000),
    maxCasRetries: checkInt("maxCasRetries", o.maxCasRetries ?? 200, 1, 10_000),
    onTransition: o.onTransition ?? (() => {}),
    onModeChange: o.onModeChange ?? (() => {}),
    onStoreError: o.onStoreError ?? (() => {}),
  };
}
