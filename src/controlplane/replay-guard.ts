// KvReplayGuard: cluster-wide replay detection with kv.create in a TTL bucket; a bounded in-memory guard while KV is unreachable.
import type { NatsConnection } from "@nats-io/nats-core";
import type { KV } from "@nats-io/kv";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";
import type { ReplayGuard } from "../storage/types.ts";
import { checkReplay } from "../storage/validate.ts";
import { FallbackBreaker, type ControlPlaneMode } from "./breaker.ts";
import { decodeReplay, encodeReplay, MAX_VALUE_BYTES } from "./codec.ts";
import { isCasConflict, withTimeout } from "./kv-call.ts";
import { openKvBucket, OPEN_BUCKET_TIMEOUT_FACTOR } from "./kv-bucket.ts";
import { replayKey } from "./keys.ts";
import { BoundedReplayMemory } from "./memory-replay.ts";
import { resolveReplayOptions, type ReplayGuardOptions, type ResolvedReplayOptions } from "./options.ts";
import { watchConnection } from "./connection.ts";
import { closed, unavailable } from "./errors.ts";

const MAX_CAS_ATTEMPTS = 5;

export interface ReplayGuardStats {
  mode: ControlPlaneMode;
  edgeFallbackTriggered: number;
  consecutiveFailures: number;
  /** Checks answered by the in-memory guard (KV unreachable or in fallback). */
  memoryChecks: number;
  memoryEntries: number;
  memoryEvictions: number;
}

/**
 * A record is `r.<h(sender,id)>` -> { e: expiresAtMs } with the caller's logical expiry, so a
 * record is "expired" exactly when the contract says, whatever the server clock; the bucket TTL
 * (windowMs, bucket-wide on 2.9.10) only garbage-collects, hence ttlMs above windowMs is refused.
 *
 * Degraded mode (documented trade-off): when a KV call fails, or after fallbackAfterFailures
 * failures in a row (then without trying KV until a probe succeeds), the check is answered by a
 * bounded per-node memory guard. A replay is then caught only if it reaches the same node; records
 * made in memory are not copied to KV later, but this node keeps consulting them after recovery.
 */
export class KvReplayGuard implements ReplayGuard {
  readonly #kv: KV;
  readonly #o: ResolvedReplayOptions;
  readonly #breaker: FallbackBreaker;
  readonly #memory: BoundedReplayMemory;
  readonly #stopConnectionWatch: () => void;
  #closed = false;
  #memoryChecks = 0;

  static async open(nc: NatsConnection, options: ReplayGuardOptions = {}): Promise<KvReplayGuard> {
    const o = resolveReplayOptions(options);
    let kv: KV;
    try {
      const spec = { bucket: o.bucket, history: 1, ttlMs: o.windowMs, replicas: o.replicas, maxBytes: o.maxBucketBytes, maxValueBytes: MAX_VALUE_BYTES };
      const openTimeoutMs = o.kvTimeoutMs * OPEN_BUCKET_TIMEOUT_FACTOR;
      kv = await withTimeout(o.clock, openTimeoutMs, () =>
        openKvBucket(nc, spec, { callTimeoutMs: o.kvTimeoutMs, createTimeoutMs: openTimeoutMs }),
      );
    } catch (e) {
      throw unavailable("cannot open the replay bucket", e);
    }
    return new KvReplayGuard(nc, kv, o);
  }

  private constructor(nc: NatsConnection, kv: KV, o: ResolvedReplayOptions) {
    this.#kv = kv;
    this.#o = o;
    this.#memory = new BoundedReplayMemory(o.memoryMaxEntries);
    this.#breaker = new FallbackBreaker({ ...o, name: "replay", probe: () => kv.status() });
    this.#stopConnectionWatch = watchConnection(nc, (connected) => {
      if (connected) void this.#breaker.probeNow();
    });
    this.#breaker.start();
  }

  async checkAndRecord(sender: string, messageId: string, nowMs: number, ttlMs: number): Promise<boolean> {
    if (this.#closed) throw closed("replay guard");
    const expiresAtMs = checkReplay(sender, messageId, nowMs, ttlMs);
    if (ttlMs > this.#o.windowMs) {
      throw new StorageError(StorageErrorCode.InvalidArgument, `ttlMs must be at most the bucket window (${this.#o.windowMs} ms)`);
    }
    const key = replayKey(sender, messageId);
    if (this.#breaker.mode === "normal") {
      const started = this.#o.clock.monotonicMs();
      try {
        const fresh = await this.#kvCheck(key, nowMs, expiresAtMs);
        this.#breaker.success(started);
        // A record made in memory during an outage still counts on this node.
        return fresh && !this.#memory.seen(key, nowMs);
      } catch (e) {
        this.#breaker.failure(e);
      }
    }
    this.#memoryChecks++;
    return this.#memory.checkAndRecord(key, nowMs, expiresAtMs);
  }

  stats(): ReplayGuardStats {
    return {
      mode: this.#breaker.mode,
      edgeFallbackTriggered: this.#breaker.triggered,
      consecutiveFailures: this.#breaker.consecutiveFailures,
      memoryChecks: this.#memoryChecks,
      memoryEntries: this.#memory.size,
      memoryEvictions: this.#memory.evictions,
    };
  }

  get mode(): ControlPlaneMode {
    return this.#breaker.mode;
  }

  onModeChange(fn: (mode: ControlPlaneMode) => void): () => void {
    return this.#breaker.onModeChange(fn);
  }

  probe(): Promise<boolean> {
    return this.#breaker.probeNow();
  }

  /** Idempotent; does not close the NATS connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopConnectionWatch();
    this.#breaker.stop();
  }

  /** true if we created (or re-created an expired) record; throws on anything but a CAS conflict. */
  async #kvCheck(key: string, nowMs: number, expiresAtMs: number): Promise<boolean> {
    const value = encodeReplay(expiresAtMs);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      if (await this.#casPut(key, value, 0)) return true;
      const current = await this.#timed(() => this.#kv.get(key));
      if (current === null) continue; // removed by the bucket TTL in between
      if (current.operation === "PUT") {
        const prior = decodeReplay(current.value);
        // A malformed record is treated as expired (overwritten), never as a reason to fail.
        if (prior !== undefined && prior > nowMs) return false;
      }
      // Expired or deleted: re-record with CAS; losing the race means a concurrent check recorded it.
      return this.#casPut(key, value, current.revision);
    }
    return false; // contended beyond reason: refusing is the safe answer for a replay check
  }

  async #casPut(key: string, value: Uint8Array, previous: number): Promise<boolean> {
    try {
      await this.#timed(() => this.#kv.put(key, value, { previousSeq: previous }));
      return true;
    } catch (e) {
      if (isCasConflict(e)) return false;
      throw e;
    }
  }

  #timed<T>(op: () => Promise<T>): Promise<T> {
    return withTimeout(this.#o.clock, this.#o.kvTimeoutMs, op);
  }
}
