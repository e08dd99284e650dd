// Control-plane options (KV buckets, timeouts, fallback thresholds): defaults and bounds, checked once at construction.
import type { Clock } from "../runtime/clock.ts";
import type { KvCasMode } from "./kv-cas.ts";
import { systemClock } from "../runtime/clock.ts";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";

/** The few logger methods we use (pino's Logger satisfies this). */
export interface ControlPlaneLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Shared by both stores: how KV failures are detected and how the fallback mode is left again. */
export interface FallbackOptions {
  /** Per-KV-call deadline; a call not answered by then counts as a failure. */
  kvTimeoutMs?: number;
  /** Consecutive KV failures (errors or timeouts) after which the store enters fallback mode. */
  fallbackAfterFailures?: number;
  /** Background probe period: detects silent outages and, in fallback, notices NATS is back. */
  probeIntervalMs?: number;
  clock?: Clock;
  log?: ControlPlaneLog;
}

export interface MediationStoreOptions extends FallbackOptions {
  bucket?: string;
  replicas?: number;
  /** Bucket size cap: the cache is a full replica of the bucket, so this also bounds each node's memory. */
  maxBucketBytes?: number;
  /** In fallback mode, cached entries are served while the cache was last in sync at most this long ago. */
  fallbackMaxStalenessMs?: number;
  /** How key ownership writes are made conditional (see KvCas). Default "auto": stream-level CAS before 2.9.21. */
  cas?: KvCasMode;
}

export interface ReplayGuardOptions extends FallbackOptions {
  bucket?: string;
  replicas?: number;
  /** Bucket-wide TTL (2.9.10 has no per-message TTL); checkAndRecord refuses ttlMs above it. */
  windowMs?: number;
  maxBucketBytes?: number;
  /** Bound of the in-memory guard used while KV is unreachable. */
  memoryMaxEntries?: number;
}

export interface ResolvedFallback {
  kvTimeoutMs: number;
  fallbackAfterFailures: number;
  probeIntervalMs: number;
  clock: Clock;
  log: ControlPlaneLog | undefined;
}

export type ResolvedMediationOptions = ResolvedFallback & {
  bucket: string;
  replicas: number;
  maxBucketBytes: number;
  fallbackMaxStalenessMs: number;
  cas: KvCasMode;
};

export type ResolvedReplayOptions = ResolvedFallback & {
  bucket: string;
  replicas: number;
  windowMs: number;
  maxBucketBytes: number;
  memoryMaxEntries: number;
};

const BUCKET_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function bounded(value: number | undefined, fallback: number, min: number, max: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new StorageError(StorageErrorCode.InvalidArgument, `${field} must be an integer in ${min}..${max}`);
  }
  return v;
}

function bucketName(value: string | undefined, fallback: string): string {
  const v = value ?? fallback;
  if (!BUCKET_NAME.test(v)) throw new StorageError(StorageErrorCode.InvalidArgument, "bucket must match [A-Za-z0-9_-]{1,64}");
  return v;
}

function casMode(v: KvCasMode | undefined): KvCasMode {
  if (v === undefined) return "auto";
  if (v !== "auto" && v !== "subject" && v !== "stream") throw new StorageError(StorageErrorCode.InvalidArgument, "cas must be auto, subject or stream");
  return v;
}

function resolveFallback(o: FallbackOptions): ResolvedFallback {
  return {
    kvTimeoutMs: bounded(o.kvTimeoutMs, 500, 10, 60_000, "kvTimeoutMs"),
    fallbackAfterFailures: bounded(o.fallbackAfterFailures, 3, 1, 1000, "fallbackAfterFailures"),
    probeIntervalMs: bounded(o.probeIntervalMs, 1000, 10, 600_000, "probeIntervalMs"),
    clock: o.clock ?? systemClock,
    log: o.log,
  };
}

export function resolveMediationOptions(o: MediationStoreOptions = {}): ResolvedMediationOptions {
  return {
    ...resolveFallback(o),
    bucket: bucketName(o.bucket, "haven_mediation"),
    replicas: bounded(o.replicas, 3, 1, 5, "replicas"),
    maxBucketBytes: bounded(o.maxBucketBytes, 256 * 1024 * 1024, 1024 * 1024, 2 ** 40, "maxBucketBytes"),
    fallbackMaxStalenessMs: bounded(o.fallbackMaxStalenessMs, 30_000, 0, 24 * 3600_000, "fallbackMaxStalenessMs"),
    cas: casMode(o.cas),
  };
}

export function resolveReplayOptions(o: ReplayGuardOptions = {}): ResolvedReplayOptions {
  return {
    ...resolveFallback(o),
    bucket: bucketName(o.bucket, "haven_replay"),
    replicas: bounded(o.replicas, 3, 1, 5, "replicas"),
    windowMs: bounded(o.windowMs, 600_000, 1000, 30 * 24 * 3600_000, "windowMs"),
    maxBucketBytes: bounded(o.maxBucketBytes, 512 * 1024 * 1024, 1024 * 1024, 2 ** 40, "maxBucketBytes"),
    memoryMaxEntries: bounded(o.memoryMaxEntries, 100_000, 1, 10_000_000, "memoryMaxEntries"),
  };
}
