// Options of the dispatcher, with defaults and bounds.
import { systemClock, type Clock } from "../runtime/clock.ts";
import { cryptoRandom, type Random } from "../runtime/random.ts";
import type { Admission, BreakerPermit } from "./breaker-types.ts";
import { checkInt } from "./errors.ts";
import type { DlqStore, EventQueue } from "./event-queue.ts";
import { noopDeliveryMetrics, type DeliveryMetrics } from "./metrics.ts";
import { plainPreparer, type RequestPreparer } from "./request.ts";
import { resolveRetryPolicy, type RetryPolicy, type RetryPolicyOptions } from "./retry-policy.ts";

/** What the dispatcher needs from a breaker; DistributedBreaker implements it. */
export interface BreakerGate {
  acquire(destination: string): Promise<Admission>;
  release(permit: BreakerPermit, healthy: boolean): Promise<void>;
  /** Hands a permit back without an outcome (the call was fenced: never made, or aborted with its fate unknown). Optional: without it, release(permit, true). */
  cancel?(permit: BreakerPermit): Promise<void>;
}

/** The subset of fetch the dispatcher uses (injectable for tests). */
export type FetchLike = (
  url: string,
  init: { method: "POST"; headers: Record<string, string>; body: Uint8Array; signal: AbortSignal; redirect: "manual" },
) => Promise<Response>;

export interface DispatcherLog {
  warn(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  queue: EventQueue;
  /** For the DLQ size metric (SqliteEventQueue is both); optional. */
  dlq?: DlqStore | null;
  breaker: BreakerGate;
  clock?: Clock;
  /** Jitter source for backoff (default node:crypto). */
  random?: Random;
  retry?: RetryPolicyOptions;
  /** Deadline per HTTP call (AbortSignal). Default 10_000, 100..300_000. Keep it below the breaker's holderTtlMs. */
  callTimeoutMs?: number;
  /** Calls in flight per destination from this node. Default 4, 1..1000. */
  concurrencyPerDestination?: number;
  /** Calls in flight from this node. Default 64, 1..10_000. */
  maxConcurrency?: number;
  /** Events fetched from the queue per pass. Default 100, 1..10_000. */
  batchSize?: number;
  /** Longest sleep between passes when running in the background. Default 1000, 10..60_000. */
  pollIntervalMs?: number;
  /** Partitions this node owns now (cluster mode); undefined result = all (single node). Read on every pass. */
  ownedPartitions?: () => ReadonlySet<number> | undefined;
  /**
   * Whether this node may still send for `partition` right now (cluster: it holds the lease). Checked synchronously
   * immediately before every HTTP call, so a call never starts after the partition was lost. Default: always.
   */
  owns?: (partition: number) => boolean;
  prepare?: RequestPreparer;
  fetch?: FetchLike;
  metrics?: DeliveryMetrics;
  log?: DispatcherLog;
}

export interface ResolvedDispatcherOptions {
  readonly queue: EventQueue;
  readonly dlq: DlqStore | null;
  readonly breaker: BreakerGate;
  readonly clock: Clock;
  readonly random: Random;
  readonly retry: RetryPolicy;
  readonly callTimeoutMs: number;
  readonly concurrencyPerDestination: number;
  readonly maxConcurrency: number;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
  readonly ownedPartitions: () => ReadonlySet<number> | undefined;
  readonly owns: (partition: number) => boolean;
  readonly prepare: RequestPreparer;
  readonly fetch: FetchLike;
  readonly metrics: DeliveryMetrics;
  readonly log: DispatcherLog | null;
}

export function resolveDispatcherOptions(o: DispatcherOptions): ResolvedDispatcherOptions {
  return {
    queue: o.queue,
    dlq: o.dlq ?? null,
    breaker: o.breaker,
    clock: o.clock ?? systemClock,
    random: o.random ?? cryptoRandom,
    retry: resolveRetryPolicy(o.retry),
    callTimeoutMs: checkInt("callTimeoutMs", o.callTimeoutMs ?? 10_000, 100, 300_000),
    concurrencyPerDestination: checkInt("concurrencyPerDestination", o.concurrencyPerDestination ?? 4, 1, 1000),
    maxConcurrency: checkInt("maxConcurrency", o.maxConcurrency ?? 64, 1, 10_000),
    batchSize: checkInt("batchSize", o.batchSize ?? 100, 1, 10_000),
    pollIntervalMs: checkInt("pollIntervalMs", o.pollIntervalMs ?? 1000, 10, 60_000),
    ownedPartitions: o.ownedPartitions ?? (() => undefined),
    owns: o.owns ?? (() => true),
    prepare: o.prepare ?? plainPreparer,
    fetch: o.fetch ?? ((url, init) => fetch(url, init)),
    metrics: o.metrics ?? noopDeliveryMetrics,
    log: o.log ?? null,
  };
}
