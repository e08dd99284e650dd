// KvMediationStore: mediation grants and keylists in a replicated NATS KV bucket, read through a watch-fed cache, with fallback.
import type { NatsConnection } from "@nats-io/nats-core";
import type { KV } from "@nats-io/kv";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";
import type { Mediation, MediationStore } from "../storage/types.ts";
import { checkKey, checkMediation, checkPage } from "../storage/validate.ts";
import { FallbackBreaker, type ControlPlaneMode } from "./breaker.ts";
import { decodeKeyOwner, encodeKeyOwner, encodeMediation, MAX_VALUE_BYTES } from "./codec.ts";
import { isCasConflict, withTimeout } from "./kv-call.ts";
import { openKvBucket, OPEN_BUCKET_TIMEOUT_FACTOR } from "./kv-bucket.ts";
import { KvCas, KvCasConflictError } from "./kv-cas.ts";
import { mediationKey, recipientKey } from "./keys.ts";
import { MediationCache, type CacheEvent } from "./mediation-cache.ts";
import { resolveMediationOptions, type MediationStoreOptions, type ResolvedMediationOptions } from "./options.ts";
import { watchConnection } from "./connection.ts";
import { closed, unavailable } from "./errors.ts";
import { KvWatcher } from "./watcher.ts";

/** A contended key is retried this often before the call gives up with a retryable error. */
const MAX_CAS_ATTEMPTS = 5;
/** open() waits this many kvTimeoutMs for the initial cache load. */
const OPEN_TIMEOUT_FACTOR = 20;

export interface ControlPlaneStats {
  mode: ControlPlaneMode;
  /** Times fallback mode was entered (metric edge_fallback_triggered). */
  edgeFallbackTriggered: number;
  cacheHits: number;
  cacheMisses: number;
  /** misses / (hits + misses); 0 before any read (metric cache_miss_rate). */
  cacheMissRate: number;
  consecutiveFailures: number;
  /** Milliseconds since the cache was last known to be in sync with the bucket. */
  staleForMs: number;
  watchReady: boolean;
  cachedMediations: number;
  cachedKeys: number;
  decodeErrors: number;
}

/**
 * Reads are served from the cache while it is fresh: connected, the watch caught up, not in
 * fallback, and some KV call answered within fallbackMaxStalenessMs (the probe keeps that true).
 * Negative answers are served from a fresh cache too: routing asks ownerOf for several spellings of
 * a key per forward and must not pay a KV round trip for each miss. A write on another node
 * becomes visible here after the watch delivers it (typically well under a millisecond on a LAN).
 * Otherwise reads go to KV (a cache miss). After fallbackAfterFailures consecutive failed KV calls
 * the store is in fallback: reads are answered from the cache while it is at most
 * fallbackMaxStalenessMs stale, later ones fail `unavailable` (retryable); writes fail `unavailable`
 * without trying. The next answered call (the periodic probe, or a probe on reconnect) leaves it.
 */
export class KvMediationStore implements MediationStore {
  readonly #kv: KV;
  /** Key ownership writes (k.*): true CAS even on nats-server < 2.9.21 (see KvCas). */
  readonly #cas: KvCas;
  readonly #o: ResolvedMediationOptions;
  readonly #cache = new MediationCache();
  readonly #breaker: FallbackBreaker;
  readonly #watcher: KvWatcher;
  readonly #stopConnectionWatch: () => void;
  #connected = true;
  #closed = false;
  #hits = 0;
  #misses = 0;

  /** Creates (or opens) the bucket, starts the watch and waits for the initial cache load. */
  static async open(nc: NatsConnection, options: MediationStoreOptions = {}): Promise<KvMediationStore> {
    const o = resolveMediationOptions(options);
    let kv: KV;
    try {
      // Creation waits for a raft leader election (slower than any ordinary KV call): its own, longer bound.
      const spec = { bucket: o.bucket, history: 1, replicas: o.replicas, maxBytes: o.maxBucketBytes, maxValueBytes: MAX_VALUE_BYTES };
      const openTimeoutMs = o.kvTimeoutMs * OPEN_BUCKET_TIMEOUT_FACTOR;
      kv = await withTimeout(o.clock, openTimeoutMs, () =>
        openKvBucket(nc, spec, { callTimeoutMs: o.kvTimeoutMs, createTimeoutMs: openTimeoutMs }),
      );
    } catch (e) {
      throw unavailable("cannot open the mediation bucket", e);
    }
    let cas: KvCas;
    try {
      cas = await withTimeout(o.clock, o.kvTimeoutMs * OPEN_BUCKET_TIMEOUT_FACTOR, () =>
        KvCas.open(nc, kv, { bucket: o.bucket, mode: o.cas, clock: o.clock, callTimeoutMs: o.kvTimeoutMs }),
      );
    } catch (e) {
      throw unavailable("cannot open the mediation bucket", e);
    }
    const store = new KvMediationStore(nc, kv, cas, o);
    if (!(await store.#watcher.whenReady(o.kvTimeoutMs * OPEN_TIMEOUT_FACTOR))) {
      await store.close();
      throw unavailable("mediation cache did not load in time");
    }
    return store;
  }

  private constructor(nc: NatsConnection, kv: KV, cas: KvCas, o: ResolvedMediationOptions) {
    this.#kv = kv;
    this.#cas = cas;
    this.#o = o;
    this.#breaker = new FallbackBreaker({ ...o, name: "mediations", probe: () => kv.status() });
    this.#watcher = new KvWatcher(kv, this.#cache, this.#breaker, o);
    this.#stopConnectionWatch = watchConnection(nc, (connected) => {
      this.#connected = connected;
      if (!connected) return;
      this.#watcher.resync();
      void this.#breaker.probeNow();
    });
    this.#watcher.start();
    this.#breaker.start();
  }

  async get(clientDid: string): Promise<Mediation | undefined> {
    this.#checkOpen();
    checkKey(clientDid, "clientDid");
    const key = mediationKey(clientDid);
    return this.#read(key, () => this.#cache.mediation(key, clientDid));
  }

  async grant(m: Mediation): Promise<void> {
    this.#checkOpen();
    checkMediation(m);
    this.#checkWritable();
    const key = mediationKey(m.clientDid);
    const revision = await this.#call(() => this.#kv.put(key, encodeMediation(m)));
    this.#cache.putMediation(key, revision, m);
  }

  async addKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change" | "conflict"> {
    this.#checkOpen();
    checkKey(clientDid, "clientDid");
    checkKey(recipientDid, "recipientDid");
    this.#checkWritable();
    if ((await this.get(clientDid)) === undefined) throw new StorageError(StorageErrorCode.NotFound, "no mediation for client");
    const key = recipientKey(recipientDid);
    const owner = { clientDid, recipientDid };
    const value = encodeKeyOwner(owner);
    let previous = 0; // create: only if the key never existed (or expired)
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const revision = await this.#casPut(key, value, previous);
      if (revision !== undefined) {
        this.#cache.putOwner(key, revision, owner);
        return "success";
      }
      // The leader's answer, not a replica's: a lagging replica could still show this client's earlier
      // ownership (already removed) and turn a lost race into "no_change".
      const current = await this.#call(() => this.#cas.last(key));
      if (current === null) continue; // vanished in between: create again
      this.#cache.apply(current, "call");
      if (current.operation !== "PUT") {
        previous = current.revision; // deleted: take it over with CAS on the delete marker
        continue;
      }
      return decodeKeyOwner(current.value)?.clientDid === clientDid ? "no_change" : "conflict";
    }
    throw unavailable("key ownership is contended; retry");
  }

  async removeKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change"> {
    this.#checkOpen();
    checkKey(clientDid, "clientDid");
    checkKey(recipientDid, "recipientDid");
    this.#checkWritable();
    const key = recipientKey(recipientDid);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#call(() => this.#cas.last(key)); // the leader's answer (see addKey)
      if (current !== null) this.#cache.apply(current, "call");
      if (current === null || current.operation !== "PUT") return "no_change";
      const o = decodeKeyOwner(current.value);
      if (o === undefined || o.clientDid !== clientDid || o.recipientDid !== recipientDid) return "no_change";
      if (await this.#casDelete(key, current.revision)) {
        // kv.delete does not return the marker's revision; it is > current.revision, so this lower
        // bound hides the old owner now and still loses against the real marker or any later write.
        this.#cache.putOwner(key, current.revision + 1, null);
        return "success";
      }
    }
    throw unavailable("key ownership is contended; retry");
  }

  async listKeys(clientDid: string, opts: { offset: number; limit: number }): Promise<{ keys: string[]; total: number }> {
    this.#checkOpen();
    checkKey(clientDid, "clientDid");
    checkPage(opts);
    const page = (): { keys: string[]; total: number } => {
      const all = this.#cache.keysOf(clientDid);
      return { keys: all.slice(opts.offset, opts.offset + opts.limit), total: all.length };
    };
    // There is no per-client KV index to scan, so a miss means: confirm we are connected, then
    // wait (bounded) for the watch to have caught up, and answer from the replica.
    return this.#read(undefined, page);
  }

  async ownerOf(recipientDid: string): Promise<string | undefined> {
    this.#checkOpen();
    checkKey(recipientDid, "recipientDid");
    const key = recipientKey(recipientDid);
    return this.#read(key, () => this.#cache.owner(key, recipientDid));
  }

  stats(): ControlPlaneStats {
    const reads = this.#hits + this.#misses;
    const size = this.#cache.size;
    return {
      mode: this.#breaker.mode,
      edgeFallbackTriggered: this.#breaker.triggered,
      cacheHits: this.#hits,
      cacheMisses: this.#misses,
      cacheMissRate: reads === 0 ? 0 : this.#misses / reads,
      consecutiveFailures: this.#breaker.consecutiveFailures,
      staleForMs: this.#breaker.staleForMs(),
      watchReady: this.#watcher.ready,
      cachedMediations: size.mediations,
      cachedKeys: size.keys,
      decodeErrors: this.#cache.decodeErrors,
    };
  }

  /** Never throws. Degraded (ok: false) while in fallback mode. */
  health(): { ok: boolean; detail: string } {
    if (this.#closed) return { ok: false, detail: "closed" };
    const s = this.stats();
    return { ok: s.mode === "normal", detail: `mode=${s.mode} watchReady=${s.watchReady} staleForMs=${Math.round(s.staleForMs)}` };
  }

  get mode(): ControlPlaneMode {
    return this.#breaker.mode;
  }

  onModeChange(fn: (mode: ControlPlaneMode) => void): () => void {
    return this.#breaker.onModeChange(fn);
  }

  /** Every cache change (from the watch or from this node's own writes). */
  onCacheChange(fn: (e: CacheEvent) => void): () => void {
    return this.#cache.onChange(fn);
  }

  /** One probe now; true if the control plane answered (and fallback, if any, was left). */
  probe(): Promise<boolean> {
    return this.#breaker.probeNow();
  }

  /** Stops the watch and the probe; does not close the NATS connection (the caller owns it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopConnectionWatch();
    this.#watcher.stop();
    this.#breaker.stop();
    this.#cache.clearListeners();
  }

  #fresh(): boolean {
    return (
      this.#connected &&
      this.#watcher.ready &&
      this.#breaker.mode === "normal" &&
      this.#breaker.staleForMs() <= this.#o.fallbackMaxStalenessMs
    );
  }

  /** `key` undefined: nothing to fetch, only confirm the replica is current (listKeys). */
  async #read<T>(key: string | undefined, fromCache: () => T): Promise<T> {
    if (this.#fresh()) {
      this.#hits++;
      return fromCache();
    }
    if (this.#breaker.inFallback()) {
      this.#hits++;
      return this.#fallbackRead(fromCache);
    }
    this.#misses++;
    const started = this.#o.clock.monotonicMs();
    try {
      if (key === undefined) {
        await withTimeout(this.#o.clock, this.#o.kvTimeoutMs, () => this.#kv.status());
      } else {
        const e = await withTimeout(this.#o.clock, this.#o.kvTimeoutMs, () => this.#kv.get(key));
        if (e !== null) this.#cache.apply(e, "call");
      }
    } catch (e) {
      this.#breaker.failure(e);
      if (this.#breaker.inFallback()) return this.#fallbackRead(fromCache);
      throw unavailable("control plane unavailable", e);
    }
    this.#breaker.success(started);
    if (key === undefined && !(await this.#watcher.whenReady(this.#o.kvTimeoutMs))) {
      throw unavailable("control-plane cache is resynchronising; retry");
    }
    return fromCache();
  }

  /**
   * The caller has counted the read (a hit, or the miss whose failure led here). Only positive answers are served
   * from a cache that may be stale: "not enrolled" would be final for the caller (a forward refused with 422 is
   * dropped by its sender), and the grant may have been made elsewhere while we could not see it.
   */
  #fallbackRead<T>(fromCache: () => T): T {
    if (this.#watcher.everReady && this.#breaker.staleForMs() <= this.#o.fallbackMaxStalenessMs) {
      const v = fromCache();
      if (v !== undefined) return v;
      throw unavailable("control plane unavailable: cannot confirm the key is absent; retry");
    }
    throw unavailable("control plane unavailable and cached state is too old");
  }

  /** A KV call whose failure counts towards fallback; CAS conflicts are answers and are rethrown as-is. */
  async #call<T>(op: () => Promise<T>): Promise<T> {
    const started = this.#o.clock.monotonicMs();
    try {
      const v = await withTimeout(this.#o.clock, this.#o.kvTimeoutMs, op);
      this.#breaker.success(started);
      return v;
    } catch (e) {
      if (isCasConflict(e) || e instanceof KvCasConflictError) {
        this.#breaker.success(started);
        throw e;
      }
      this.#breaker.failure(e);
      throw unavailable("control plane unavailable", e);
    }
  }

  /** Put if the key's last revision is `previous` (0 = absent); undefined on a CAS conflict. */
  async #casPut(key: string, value: Uint8Array, previous: number): Promise<number | undefined> {
    try {
      return await this.#call(() => this.#cas.put(key, value, previous, this.#o.kvTimeoutMs));
    } catch (e) {
      if (isCasConflict(e) || e instanceof KvCasConflictError) return undefined;
      throw e;
    }
  }

  async #casDelete(key: string, previous: number): Promise<boolean> {
    try {
      await this.#call(() => this.#cas.delete(key, previous, this.#o.kvTimeoutMs));
      return true;
    } catch (e) {
      if (isCasConflict(e) || e instanceof KvCasConflictError) return false;
      throw e;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw closed("mediation store");
  }

  #checkWritable(): void {
    if (this.#breaker.inFallback()) throw unavailable("control plane in fallback mode: writes are refused; retry");
  }
}

