// Lease storage interface (a KV with create / compare-and-swap / TTL) and its NATS KV implementation.
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { openKvBucket } from "../controlplane/kv-bucket.ts";
import { decode, encode } from "@msgpack/msgpack";
import type { Clock } from "../runtime/clock.ts";
import { systemClock } from "../runtime/clock.ts";

/** The key was held by someone else (create) or moved past the given revision (update/delete). */
export class LeaseConflictError extends Error {
  override readonly name = "LeaseConflictError";
}

/** The store did not answer in time: the operation may or may not have been applied. */
export class LeaseTimeoutError extends Error {
  override readonly name = "LeaseTimeoutError";
}

/**
 * What LeaseManager needs. Every write returns the new revision; revisions increase across the whole
 * store (a NATS KV revision is the stream sequence), which is what makes them usable as fencing epochs.
 * A key expires `ttl` after its last write, measured by the store (server side), never by clients.
 */
export interface LeaseStore {
  /** Writes `value` only if the key is absent, expired or deleted; else LeaseConflictError. */
  create(key: string, value: Uint8Array, timeoutMs: number): Promise<number>;
  /** Writes `value` only if the key's current revision is `revision`; else LeaseConflictError. */
  update(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number>;
  /** Deletes only if the key's current revision is `revision`; else LeaseConflictError. */
  delete(key: string, revision: number, timeoutMs: number): Promise<void>;
  /** Current value and revision, or null when absent, expired or deleted. */
  get(key: string, timeoutMs: number): Promise<{ value: Uint8Array; revision: number } | null>;
}

/** Lease value stored under `p.<n>`: epoch 0 in the creating write (its revision is the epoch). */
export interface LeaseValue {
  nodeId: string;
  epoch: number;
}

export const MAX_LEASE_VALUE_BYTES = 256;

export function encodeLease(v: LeaseValue): Uint8Array {
  return encode(v);
}

/** Decodes a lease; epoch 0 (the creating write) means "this entry's revision". Null when malformed. */
export function decodeLease(bytes: Uint8Array, revision: number): LeaseValue | null {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_LEASE_VALUE_BYTES) return null;
  try {
    const v = decode(bytes, { maxStrLength: 128, maxMapLength: 4, maxArrayLength: 0 }) as Record<string, unknown> | null;
    if (v === null || typeof v !== "object" || typeof v.nodeId !== "string" || typeof v.epoch !== "number") return null;
    if (!Number.isSafeInteger(v.epoch) || v.epoch < 0) return null;
    return { nodeId: v.nodeId, epoch: v.epoch === 0 ? revision : v.epoch };
  } catch {
    return null;
  }
}

export function leaseKey(partition: number): string {
  return `p.${partition}`;
}

export interface LeaseBucketOptions {
  /** Default "haven_leases". */
  bucket?: string;
  /** Bucket-wide TTL (2.9.10 has no per-key TTL): the lease length. */
  leaseTtlMs: number;
  /** Default 3; 1 for single-server tests. */
  replicas?: number;
  clock?: Clock;
}

/**
 * Opens (creating if needed) the lease bucket: history 1, TTL = leaseTtlMs. Safe when every node of a
 * starting cluster creates it at once (see openKvBucket).
 */
export async function openNatsLeaseStore(nc: NatsConnection, opts: LeaseBucketOptions): Promise<NatsLeaseStore> {
  const spec = { bucket: opts.bucket ?? "haven_leases", ttlMs: opts.leaseTtlMs, history: 1, replicas: opts.replicas ?? 3 };
  const kv = await openKvBucket(nc, spec, { callTimeoutMs: 5000 });
  return new NatsLeaseStore(kv, opts.clock ?? systemClock);
}

export class NatsLeaseStore implements LeaseStore {
  constructor(
    readonly kv: KV,
    private readonly clock: Clock,
  ) {}

  create(key: string, value: Uint8Array, timeoutMs: number): Promise<number> {
    return this.#guard(this.kv.create(key, value), timeoutMs);
  }

  update(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number> {
    return this.#guard(this.kv.update(key, value, revision, timeoutMs), timeoutMs);
  }

  delete(key: string, revision: number, timeoutMs: number): Promise<void> {
    return this.#guard(this.kv.delete(key, { previousSeq: revision }), timeoutMs);
  }

  async get(key: string, timeoutMs: number): Promise<{ value: Uint8Array; revision: number } | null> {
    const e = await this.#guard(this.kv.get(key), timeoutMs);
    if (!e || e.operation !== "PUT") return null;
    return { value: e.value, revision: e.revision };
  }

  /** Maps CAS failures to LeaseConflictError and bounds the wait (the client buffers while disconnected). */
  #guard<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new LeaseTimeoutError(`lease store timed out after ${timeoutMs} ms`)), timeoutMs);
      p.then(
        (v) => {
          this.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          if (isConflict(err)) reject(new LeaseConflictError("lease revision conflict", { cause: err }));
          else if (isUnavailable(err)) reject(new LeaseTimeoutError("lease store unavailable", { cause: err }));
          else reject(err);
        },
      );
    });
  }
}

/** The client's own "could not reach the server in time" errors: outcome unknown, like our timeout. */
const UNAVAILABLE = new Set(["TimeoutError", "NoRespondersError", "ClosedConnectionError", "ConnectionError", "DrainingConnectionError", "RequestError"]);

function isUnavailable(err: unknown): boolean {
  return err instanceof Error && UNAVAILABLE.has(err.name);
}

/** JetStream "wrong last sequence" (10071) is the CAS failure of create/update/delete. */
function isConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10071 || err.code === 10164);
}
