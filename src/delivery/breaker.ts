// The distributed circuit breaker: admission and completion as CAS steps on the shared store, with an in-memory fallback and reconciliation.
import type { TimerHandle } from "../runtime/clock.ts";
import { abandon, addFailures, admit, complete, forceClose, mergeLocal, type AdmitDecision, type Step } from "./breaker-logic.ts";
import { resolveBreakerOptions, type BreakerOptions, type ResolvedBreakerOptions } from "./breaker-options.ts";
import type { BreakerPhase, BreakerRecord } from "./breaker-record.ts";
import { MemoryBreakerStore, type BreakerStore, type VersionedRecord } from "./breaker-store.ts";
import type { Admission, BreakerMode, BreakerPermit, BreakerSnapshot } from "./breaker-types.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";

const MAX_CACHED = 10_000;
const MAX_RECONCILE_ROUNDS = 5;

/**
 * Usage per attempt: `acquire(destination)`; if admitted, make the call, then `release(permit, ok)`.
 * Operations on one destination are serialised on this node (they would only conflict with each other);
 * nodes race through CAS. Without a shared store (single-node mode) the breaker is purely local.
 */
export class DistributedBreaker {
  readonly #o: ResolvedBreakerOptions;
  readonly #shared: BreakerStore | null;
  readonly #local = new MemoryBreakerStore({ kind: "local" });
  /** Last record seen in the shared store per destination: saves a read per CAS when we are the last writer. */
  readonly #cache = new Map<string, VersionedRecord | null>();
  readonly #tails = new Map<string, Promise<void>>();
  /** Token per local record being merged (bounded by the local store's size: entries go when merged or when fallback restarts). */
  readonly #mergeTokens = new Map<string, { localRevision: number; token: string }>();
  #mode: BreakerMode;
  #storeFailures = 0;
  #probeTimer: TimerHandle | undefined;
  #reconciling: Promise<boolean> | undefined;
  #closed = false;

  constructor(options: BreakerOptions) {
    this.#o = resolveBreakerOptions(options);
    this.#shared = this.#o.shared;
    this.#mode = this.#shared === null ? "local" : "shared";
  }

  /** "shared" normally; "local" in single-node mode or while the shared store is unreachable. */
  get mode(): BreakerMode {
    return this.#mode;
  }

  /** Asks to make one call to `destination` (see destinationOf). Never throws for store trouble: it falls back. */
  acquire(destination: string): Promise<Admission> {
    this.#checkOpen();
    const token = Buffer.from(this.#o.random.bytes(16)).toString("hex");
    return this.#serial(destination, async () => {
      const step = (r: BreakerRecord | null, nowMs: number) => admit(r, this.#o.rules, nowMs, this.#o.nodeId, token);
      try {
        if (this.#mode === "shared") {
          const shared = await this.#tryShared(destination, step);
          if (shared.ok) return toAdmission(shared.value, destination, token, "shared");
        }
        this.#seedLocal(destination);
        return toAdmission(await this.#mutate(this.#local, destination, step), destination, token, "local");
      } catch (e) {
        if (e instanceof DeliveryError && e.code === DeliveryErrorCode.Contention) {
          return { admitted: false, reason: "contention", retryAtMs: this.#o.clock.nowMs() + this.#o.rules.recheckMs };
        }
        throw e;
      }
    });
  }

  /** Reports the outcome of an admitted call. `ok` = the destination is healthy (2xx, or a 4xx it answered deliberately). */
  release(permit: BreakerPermit, ok: boolean): Promise<void> {
    const destination = permit.destination;
    return this.#serial(destination, async () => {
      const done = (r: BreakerRecord | null, nowMs: number) => complete(r, this.#o.rules, nowMs, permit.token, ok);
      if (permit.store === "local" && this.#mode === "local") {
        await this.#mutate(this.#local, destination, done);
        return;
      }
      if (permit.store === "shared" && this.#mode === "shared") {
        if ((await this.#tryShared(destination, done)).ok) return;
      }
      // The permit's store is not the one in use: its reservation is gone (local, merged) or unreachable
      // (shared, it lapses at expiry). Successes are dropped; failures still count, pessimistically.
      if (ok) return;
      const one = (r: BreakerRecord | null, nowMs: number) => addFailures(r, this.#o.rules, nowMs, 1, permit.token);
      if (this.#mode === "shared" && (await this.#tryShared(destination, one)).ok) return;
      this.#seedLocal(destination);
      await this.#mutate(this.#local, destination, one);
    }).catch((e: unknown) => {
      // Contention on a completion: the reservation lapses at its expiry, which frees the slot.
      if (!(e instanceof DeliveryError && e.code === DeliveryErrorCode.Contention)) throw e;
    });
  }

  /** Hands back an admission without an outcome (the call was not made, or was aborted with its fate unknown): the slot is freed, nothing is counted. */
  cancel(permit: BreakerPermit): Promise<void> {
    const destination = permit.destination;
    return this.#serial(destination, async () => {
      const drop = (r: BreakerRecord | null) => abandon(r, permit.token);
      if (permit.store === "local" && this.#mode === "local") await this.#mutate(this.#local, destination, drop);
      else if (permit.store === "shared" && this.#mode === "shared") await this.#tryShared(destination, drop);
      // Otherwise the reservation is gone (merged) or unreachable (it lapses at its expiry).
    }).catch((e: unknown) => {
      if (!(e instanceof DeliveryError && e.code === DeliveryErrorCode.Contention)) throw e;
    });
  }

  /**
   * Operator override: force-closes `destination` (failures forgotten, probe dropped). In shared mode it is one CAS
   * write on the cluster-wide record, so every node sees it closed on its next decision; while the shared store is
   * unreachable it closes this node's in-memory fallback record (which then merges as "closed, no failures").
   */
  reset(destination: string): Promise<BreakerResetResult> {
    this.#checkOpen();
    const token = Buffer.from(this.#o.random.bytes(16)).toString("hex");
    return this.#serial(destination, async () => {
      const step = (r: BreakerRecord | null) => forceClose(r, token);
      if (this.#mode === "shared") {
        const shared = await this.#tryShared(destination, step);
        if (shared.ok) return { destination, store: "shared" as const, ...shared.value };
      }
      return { destination, store: "local" as const, ...(await this.#mutate(this.#local, destination, step)) };
    });
  }

  /** Current state of a destination as this node sees it (reads the store in use). */
  async snapshot(destination: string): Promise<BreakerSnapshot> {
    const store = this.#mode === "shared" && this.#shared !== null ? this.#shared : this.#local;
    const v = await store.get(destination);
    const r = v?.record;
    return {
      destination,
      store: store.kind,
      phase: r?.phase ?? "closed",
      failures: r?.failSeqs.length ?? 0,
      inFlight: r?.inFlight.length ?? 0,
      probeHeld: (r?.probe ?? null) !== null,
      openedAtMs: r?.openedAtMs ?? null,
    };
  }

  /** Destinations this node has dealt with (bounded caches), sorted: what status listings show. */
  knownDestinations(): string[] {
    return [...new Set([...this.#cache.keys(), ...this.#local.destinations()])].sort();
  }

  /**
   * While in fallback: tries the shared store now and, if it answers, merges every local record into it
   * (rule in breaker-logic.ts mergeLocal: the more pessimistic view wins, local failures are added) and
   * returns to shared mode. Resolves true when in shared mode afterwards. Also run by a timer every probeIntervalMs.
   */
  reconcileNow(): Promise<boolean> {
    if (this.#mode === "shared") return Promise.resolve(true);
    this.#reconciling ??= this.#reconcile().finally(() => {
      this.#reconciling = undefined;
    });
    return this.#reconciling;
  }

  close(): void {
    this.#closed = true;
    if (this.#probeTimer !== undefined) this.#o.clock.clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  // ---- internals --------------------------------------------------------------------------------------------

  async #tryShared<T>(destination: string, fn: (r: BreakerRecord | null, nowMs: number) => Step<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    const shared = this.#shared;
    while (shared !== null && this.#mode === "shared") {
      try {
        const value = await this.#mutate(shared, destination, fn);
        this.#storeFailures = 0;
        return { ok: true, value };
      } catch (e) {
        if (!(e instanceof DeliveryError && e.code === DeliveryErrorCode.StoreUnavailable)) throw e;
        this.#cache.delete(destination);
        this.#o.onStoreError(destination, e);
        if (++this.#storeFailures >= this.#o.fallbackAfterFailures) this.#enterFallback();
      }
    }
    return { ok: false };
  }

  /** One CAS step: read (or use the cached record), decide, write; re-decide on conflict. Emits the transition it made. */
  async #mutate<T>(store: BreakerStore, destination: string, fn: (r: BreakerRecord | null, nowMs: number) => Step<T>): Promise<T> {
    const cached = store.kind === "shared" ? this.#cache.get(destination) : undefined;
    let cur: VersionedRecord | null | undefined = cached;
    let fromCache = cur !== undefined;
    for (let i = 0; i < this.#o.maxCasRetries; i++) {
      if (cur === undefined) {
        cur = await store.get(destination);
        fromCache = false;
        this.#remember(store, destination, cur);
      }
      const nowMs = this.#o.clock.nowMs();
      const step = fn(cur?.record ?? null, nowMs);
      if (step.next === null) {
        if (fromCache) {
          cur = undefined; // a decision without a write must rest on a fresh read, not on our cache
          continue;
        }
        // A change without a write is a replay: this operation's earlier write landed, but its answer was
        // lost (timeout), so its transition was not reported yet. Report it now, once.
        if (step.change !== null) this.#o.onTransition({ destination, ...step.change, atMs: nowMs, nodeId: this.#o.nodeId, store: store.kind });
        return step.result;
      }
      const revision = cur === null ? await store.create(destination, step.next) : await store.update(destination, step.next, cur.revision);
      if (revision === null) {
        cur = undefined;
        continue;
      }
      this.#remember(store, destination, { record: step.next, revision });
      if (step.change !== null) {
        this.#o.onTransition({ destination, ...step.change, atMs: nowMs, nodeId: this.#o.nodeId, store: store.kind });
      }
      return step.result;
    }
    throw new DeliveryError(DeliveryErrorCode.Contention, `breaker record kept changing (${this.#o.maxCasRetries} CAS conflicts)`, { retryable: true });
  }

  #remember(store: BreakerStore, destination: string, v: VersionedRecord | null): void {
    if (store.kind !== "shared") return;
    this.#cache.delete(destination);
    this.#cache.set(destination, v);
    if (this.#cache.size > MAX_CACHED) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  /** A destination first used in fallback starts from the last shared state we saw if that was open (closed starts fresh: its failures stay counted in the shared record). */
  #seedLocal(destination: string): void {
    if (this.#local.getSync(destination) !== null) return;
    const seen = this.#cache.get(destination)?.record;
    if (seen === undefined || seen.phase === "closed") return;
    void this.#local.create(destination, { ...seen, phase: "open", inFlight: [], probe: null, failSeqs: [] });
  }

  #enterFallback(): void {
    if (this.#mode === "local") return;
    this.#mode = "local";
    this.#local.clear();
    this.#mergeTokens.clear();
    this.#o.onModeChange("local");
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    if (this.#closed || this.#probeTimer !== undefined) return;
    this.#probeTimer = this.#o.clock.setTimeout(
      () => {
        this.#probeTimer = undefined;
        void this.reconcileNow().then((ok) => {
          if (!ok) this.#scheduleProbe();
        });
      },
      this.#o.probeIntervalMs,
      { unref: true },
    );
  }

  async #reconcile(): Promise<boolean> {
    const shared = this.#shared;
    if (shared === null || this.#closed) return false;
    try {
      await shared.ping();
      for (let round = 0; round < MAX_RECONCILE_ROUNDS; round++) {
        for (const destination of this.#local.destinations()) {
          await this.#serial(destination, async () => {
            const local = this.#local.getSync(destination);
            if (local === null) return;
            this.#cache.delete(destination);
            const token = this.#mergeToken(destination, local.revision);
            await this.#mutate(shared, destination, (r, nowMs) => mergeLocal(r, local.record, this.#o.rules, nowMs, token));
            this.#local.delete(destination);
            this.#mergeTokens.delete(destination);
          });
        }
        // No await between this check and the switch: no local decision can slip in unmerged.
        if (this.#local.size === 0) {
          this.#mode = "shared";
          this.#storeFailures = 0;
          this.#o.onModeChange("shared");
          return true;
        }
      }
    } catch (e) {
      if (!(e instanceof DeliveryError && (e.code === DeliveryErrorCode.StoreUnavailable || e.code === DeliveryErrorCode.Contention))) throw e;
    }
    this.#scheduleProbe();
    return false;
  }

  /**
   * The merge of one local record keeps its token across reconcile attempts, so a merge whose write landed
   * but timed out is recognised (not added twice) by the next attempt; a local record changed since gets a new one.
   */
  #mergeToken(destination: string, localRevision: number): string {
    const known = this.#mergeTokens.get(destination);
    if (known !== undefined && known.localRevision === localRevision) return known.token;
    const token = Buffer.from(this.#o.random.bytes(16)).toString("hex");
    this.#mergeTokens.set(destination, { localRevision, token });
    return token;
  }

  /** Runs `fn` after every earlier operation on `destination` from this node settled. */
  #serial<T>(destination: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(destination) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#tails.set(destination, tail);
    void tail.then(() => {
      if (this.#tails.get(destination) === tail) this.#tails.delete(destination);
    });
    return run;
  }

  #checkOpen(): void {
    if (this.#closed) throw new DeliveryError(DeliveryErrorCode.Closed, "breaker is closed");
  }
}

export interface BreakerResetResult {
  readonly destination: string;
  /** Which record was closed: the cluster-wide one, or this node's fallback while the shared store is down. */
  readonly store: BreakerMode;
  /** Phase before the reset. */
  readonly from: BreakerPhase;
  /** Failures that were counted before the reset. */
  readonly failures: number;
}

function toAdmission(d: AdmitDecision, destination: string, token: string, store: BreakerMode): Admission {
  if (!d.admitted) return d;
  return { admitted: true, permit: Object.freeze({ destination, token, kind: d.kind, store }) };
}
