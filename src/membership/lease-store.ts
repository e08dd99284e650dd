// Lease storage interface (a KV with create / compare-and-swap / TTL) and its NATS KV implementation.
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createChain, type CreateChainDeps } from "./lease-create-chain.ts";
import { openKvBucket } from "../controlplane/kv-bucket.ts";
import { isCasConflict } from "../controlplane/kv-call.ts";
import { KvCas, KvCasConflictError, KvCasUnavailableError, type KvCasMode } from "../controlplane/kv-cas.ts";
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

/** A key to create and the value to create it with (LeaseStore.createMany). */
export interface LeaseEntry {
  key: string;
  value: Uint8Array;
}

/** What createMany did: the revisions of the keys it created, and why it stopped early (null when it did not). */
export interface CreateManyResult {
  created: Map<string, number>;
  error: unknown;
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
  /**
   * Optional, for the holder's renewals only: like update, but valid only when `revision` was written by this very
   * caller and the caller never has two writes of the key in flight. Then no other writer can expect `revision`
   * (revisions are unique per write), which lets a store use a cheaper check than a general CAS. Without it,
   * LeaseManager renews with update.
   */
  renew?(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number>;
  /**
   * Optional: create several keys (each only if absent, expired or deleted), in order, within `timeoutMs` overall.
   * `onSend(key)` is called right before that key's create is sent (a fence counts from there), `onCreated` as soon
   * as it is acknowledged. Resolves with the revisions of the keys created (the others were held by someone else or
   * not tried); `error` says why it stopped early (LeaseTimeoutError: the last create's outcome is unknown).
   * Without it, LeaseManager creates one by one.
   */
  createMany?(
    entries: LeaseEntry[],
    timeoutMs: number,
    onSend: (key: string) => void,
    onCreated: (key: string, revision: number) => void,
  ): Promise<CreateManyResult>;
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
  /**
   * How writes are made conditional (see KvCas): default "auto" = a stream-level CAS on nats-server < 2.9.21,
   * whose per-key CAS lets concurrent writers of one revision all win on a replicated bucket (two owners).
   */
  cas?: KvCasMode;
  /** Stream-mode attempts per write when writes to other partitions keep moving the stream (default 16). */
  maxCasAttempts?: number;
  clock?: Clock;
}

/**
 * Opens (creating if needed) the lease bucket: history 1, TTL = leaseTtlMs. Safe when every node of a
 * starting cluster creates it at once (see openKvBucket).
 */
export async function openNatsLeaseStore(nc: NatsConnection, opts: LeaseBucketOptions): Promise<NatsLeaseStore> {
  const bucket = opts.bucket ?? "haven_leases";
  const spec = { bucket, ttlMs: opts.leaseTtlMs, history: 1, replicas: opts.replicas ?? 3 };
  // raiseTtl: a bucket left with a shorter TTL (another LEASE_TTL_MS, or made by hand) would let keys expire
  // while their holders still serve; raising it is safe for every node, lowering it never is.
  const kv = await openKvBucket(nc, spec, { callTimeoutMs: CALL_TIMEOUT_MS, raiseTtl: true });
  const clock = opts.clock ?? systemClock;
  const cas = await KvCas.open(nc, kv, { bucket, mode: opts.cas ?? "auto", maxAttempts: opts.maxCasAttempts ?? 16, clock, callTimeoutMs: CALL_TIMEOUT_MS });
  const chain: CreateChainDeps = {
    jsm: await jetstreamManager(nc, { timeout: CALL_TIMEOUT_MS, checkAPI: false }),
    js: jetstream(nc, { timeout: CALL_TIMEOUT_MS, checkAPI: false }),
    stream: `KV_${bucket}`,
    prefix: `$KV.${bucket}.`,
    clock,
  };
  return new NatsLeaseStore(kv, cas, clock, chain);
}

/** Bound of one NATS request (each store call also has the caller's, usually shorter, deadline). */
const CALL_TIMEOUT_MS = 5000;

/**
 * Every write is a true compare-and-swap on every server version: create, update and delete go through KvCas,
 * createMany through a stream-level CAS chain (lease-create-chain.ts), renew through the per-key check that is
 * sound for its single writer (see renew). So a lease can be won by one node only, and a stale holder's renewal
 * cannot succeed after the key moved. Revisions returned are the key's real revisions (stream sequences) in both
 * modes, so epochs keep their meaning.
 */
export class NatsLeaseStore implements LeaseStore {
  constructor(
    readonly kv: KV,
    readonly cas: KvCas,
    private readonly clock: Clock,
    private readonly chain: CreateChainDeps,
  ) {}

  /** "stream" on servers before 2.9.21. */
  get casMode(): "subject" | "stream" {
    return this.cas.mode;
  }

  create(key: string, value: Uint8Array, timeoutMs: number): Promise<number> {
    return this.#guard(this.cas.create(key, value, timeoutMs), timeoutMs);
  }

  update(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number> {
    if (!Number.isSafeInteger(revision) || revision < 1) return Promise.reject(new RangeError("update needs the revision to replace"));
    return this.#guard(this.cas.put(key, value, revision, timeoutMs), timeoutMs);
  }

  /**
   * The holder's renewal: one publish with the per-key expectation (Nats-Expected-Last-Subject-Sequence), not the
   * stream-level CAS. Why that is safe on servers before 2.9.21 (nats-io/nats-server#4320: concurrent writers that
   * expect the *same* revision of a key can all win on a clustered stream): only the holder ever expects its own
   * revision `revision`, and LeaseManager keeps one renewal per lease in flight. Every other write either expects
   * something else or is a stream-level CAS: a create is attempted only once the key has no live value (the server
   * then refuses this renewal, the key no longer being at `revision`), and a create racing a renewal still in flight
   * fails its stream-level expectation, which counts writes in flight. A stale renewal (key expired, deleted or
   * taken) is refused like any other CAS: LeaseConflictError.
   *
   * Why it matters: stream-level CAS writes are serialised per node and cost three requests each, and any other
   * key's write in between forces a retry; a node renewing dozens of partitions every few hundred ms under load
   * queued its renewals and its acquisitions behind each other for seconds (failover took seconds longer).
   */
  renew(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number> {
    if (!Number.isSafeInteger(revision) || revision < 1) return Promise.reject(new RangeError("renew needs the revision to replace"));
    return this.#guard(this.kv.put(key, value, { previousSeq: revision }), timeoutMs);
  }

  /**
   * Stream mode: one CAS chain (see createChain: two round trips plus one per key, instead of three per key, each
   * retried whenever any other write lands in between). Subject mode (servers with a sound per-key CAS): the
   * creates at once.
   */
  async createMany(
    entries: LeaseEntry[],
    timeoutMs: number,
    onSend: (key: string) => void,
    onCreated: (key: string, revision: number) => void,
  ): Promise<CreateManyResult> {
    if (this.cas.mode === "stream") {
      const r = await createChain(this.chain, entries, { deadlineMs: this.clock.monotonicMs() + timeoutMs, maxRounds: MAX_CHAIN_ROUNDS, onSend, onCreated });
      return { created: r.created, error: r.error === null ? null : mapError(r.error) };
    }
    const created = new Map<string, number>();
    let error: unknown = null;
    await Promise.all(
      entries.map(async (e) => {
        onSend(e.key);
        try {
          const revision = await this.create(e.key, e.value, timeoutMs);
          created.set(e.key, revision);
          onCreated(e.key, revision);
        } catch (err) {
          if (!(err instanceof LeaseConflictError)) error ??= err;
        }
      }),
    );
    return { created, error };
  }

  async delete(key: string, revision: number, timeoutMs: number): Promise<void> {
    await this.#guard(this.cas.delete(key, revision, timeoutMs), timeoutMs);
  }

  /** Read from the stream leader: a replica's direct get may still show a lease that was deleted or replaced. */
  get(key: string, timeoutMs: number): Promise<{ value: Uint8Array; revision: number } | null> {
    return this.#guard(this.cas.read(key), timeoutMs);
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
          reject(mapError(err));
        },
      );
    });
  }
}

/** Re-reads of a create chain after foreign writes broke it (like KvCas's attempts per write). */
const MAX_CHAIN_ROUNDS = 16;

/** CAS refusals -> LeaseConflictError, "outcome unknown" -> LeaseTimeoutError, anything else as is. */
function mapError(err: unknown): unknown {
  if (err instanceof LeaseConflictError || err instanceof LeaseTimeoutError) return err;
  if (err instanceof KvCasConflictError || isCasConflict(err)) return new LeaseConflictError("lease revision conflict", { cause: err });
  if (err instanceof KvCasUnavailableError || isUnavailable(err)) return new LeaseTimeoutError("lease store unavailable", { cause: err });
  return err;
}

/** The client's own "could not reach the server in time" errors: outcome unknown, like our timeout. */
const UNAVAILABLE = new Set(["TimeoutError", "NoRespondersError", "ClosedConnectionError", "ConnectionError", "DrainingConnectionError", "RequestError"]);

function isUnavailable(err: unknown): boolean {
  return err instanceof Error && UNAVAILABLE.has(err.name);
}
