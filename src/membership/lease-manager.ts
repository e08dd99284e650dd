// Partition leases with fencing epochs: acquire by KV create, renew by CAS (all of a node's leases at once), stop serving before the lease can expire.
import { checkPartition, checkPartitionCount } from "../cluster/partition.ts";
import type { TimerHandle } from "../runtime/clock.ts";
import { resolveLeaseOptions, type LeaseManagerOptions, type LossReason, type ResolvedLeaseOptions } from "./lease-options.ts";
import { encodeLease, LeaseConflictError, LeaseTimeoutError, leaseKey } from "./lease-store.ts";

/*
 * FENCING INVARIANT (single owner per partition):
 *
 *   A node serves partition p at epoch e only while   monotonicNow < lastRenewSentAt + leaseTtlMs - safetyMarginMs
 *   where lastRenewSentAt is the local time at which the last *successful* create/update of `p.<n>` was
 *   sent. onLost is started at that deadline at the latest (a local timer: it needs no network), and
 *   `holds(p)` answers null from that instant on, whatever onLost is doing.
 *
 * Why it holds: the KV server stamps a write no earlier than the moment it was sent, and expires the key
 * leaseTtlMs after its last write; kv.create succeeds only on an absent/expired/deleted key, and every
 * renewal is a CAS on the revision we wrote. So another node can acquire p only (a) after the key expired,
 * i.e. no earlier than lastRenewSentAt + leaseTtlMs (real time) -- by then we stopped safetyMarginMs ago --
 * or (b) after we deleted it, which we do only after onLost returned. The new owner's epoch (its create
 * revision) is larger than every revision we wrote, so stale writes from us are rejected by CAS.
 * Assumptions: local clock rate drift over leaseTtlMs plus onLost's duration stay below safetyMarginMs,
 * and NATS servers' clocks do not expire messages early (KV TTL is measured by the stream leader).
 * Wall-clock skew between nodes is irrelevant: only each node's monotonic clock and the server's are used.
 */

interface Lease {
  readonly partition: number;
  readonly epoch: number;
  /** Revision of our last successful write (the CAS base of the next renewal). */
  revision: number;
  /** holds() is false from this monotonic instant; the fence timer fires here. */
  serveUntilMs: number;
  /** Earliest moment the key can expire server side (lastRenewSentAt + leaseTtlMs). */
  expiresNoEarlierThanMs: number;
  phase: "gaining" | "held" | "losing";
  /** Loss requested while onGained was running; handled when it returns. */
  pendingLoss: LossReason | null;
  renewing: boolean;
  fenceTimer: TimerHandle | null;
}

/** Thrown when code tries to act on a partition this node does not hold (a fencing bug, never a normal path). */
export class FencingViolation extends Error {
  override readonly name = "FencingViolation";
}

function invariant(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new FencingViolation(`lease invariant violated: ${msg}`);
}

/**
 * Holds the leases of the partitions this node should own (`setDesired`, fed from the ring), renews
 * them, gives them up when the ring moves them away (onLost awaited, then delete with CAS so the next
 * owner need not wait for expiry), and fences itself when renewals stop succeeding.
 */
export class LeaseManager {
  readonly #o: ResolvedLeaseOptions;
  readonly #leases = new Map<number, Lease>();
  /** Partitions with a create or delete in flight. */
  readonly #busy = new Set<number>();
  readonly #tasks = new Set<Promise<void>>();
  #desired = new Set<number>();
  #retryTimer: TimerHandle | null = null;
  /** The node-wide renewal tick (armed while any lease exists). */
  #renewTimer: TimerHandle | null = null;
  /** Monotonic time the last renewal burst started (-Infinity: none yet). */
  #lastBurstMs = Number.NEGATIVE_INFINITY;
  /** The renewal burst the pending creates wait for (shared by every acquisition of one round). */
  #burstBeforeCreates: Promise<void> | null = null;
  #draining = false;
  #stopped = false;
  /** Counters for metrics. */
  readonly stats = { gained: 0, lost: 0, fenceOverruns: 0, renewFailures: 0 };

  constructor(opts: LeaseManagerOptions) {
    checkPartitionCount(opts.partitions);
    this.#o = resolveLeaseOptions(opts);
  }

  /** The partitions this node should own; leases are acquired and released to match. */
  setDesired(partitions: Iterable<number>): void {
    const next = new Set<number>();
    for (const p of partitions) next.add(checkPartition(p, this.#o.partitions));
    this.#desired = this.#draining ? new Set() : next;
    this.#reconcile();
  }

  /** The epoch under which this node may serve `p` right now, or null. Check it on every serving action. */
  holds(p: number): number | null {
    const lease = this.#leases.get(p);
    if (!lease || lease.phase !== "held") return null;
    return this.#o.clock.monotonicMs() < lease.serveUntilMs ? lease.epoch : null;
  }

  /** Throws FencingViolation unless this node holds `p` at exactly `epoch` now. */
  assertHolds(p: number, epoch: number): void {
    invariant(this.holds(p) === epoch, `node ${this.#o.nodeId} acted on partition ${p} at epoch ${epoch} without holding it`);
  }

  /** Partitions currently held (serving), ascending, with their epochs. */
  owned(): { partition: number; epoch: number }[] {
    const out: { partition: number; epoch: number }[] = [];
    for (const p of [...this.#leases.keys()].sort((a, b) => a - b)) {
      const epoch = this.holds(p);
      if (epoch !== null) out.push({ partition: p, epoch });
    }
    return out;
  }

  /** Graceful leave: stop acquiring, release every lease (onLost awaited, key deleted); resolves when all are gone. */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#desired = new Set();
    this.#reconcile();
    while (this.#tasks.size > 0 || this.#leases.size > 0) {
      if (this.#tasks.size === 0) this.#reconcile();
      await Promise.allSettled([...this.#tasks]);
    }
  }

  /** drain(), then stop all timers. */
  async stop(): Promise<void> {
    await this.drain();
    this.#stopped = true;
    if (this.#retryTimer) this.#o.clock.clearTimeout(this.#retryTimer);
    if (this.#renewTimer) this.#o.clock.clearTimeout(this.#renewTimer);
    this.#retryTimer = this.#renewTimer = null;
  }

  #track(p: Promise<void>): void {
    const t = p.catch((err) => this.#o.onError(err, "lease task")).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  #reconcile(): void {
    if (this.#stopped) return;
    let missing = false;
    const round: number[] = [];
    for (const p of this.#desired) {
      if (this.#leases.has(p)) continue;
      missing = true;
      if (!this.#busy.has(p)) round.push(p);
    }
    if (round.length > 0) this.#track(this.#acquireRound(round));
    for (const [p, lease] of this.#leases) {
      if (!this.#desired.has(p) && lease.phase === "held") this.#track(this.#lose(lease, "released"));
    }
    if (missing && !this.#retryTimer) {
      this.#retryTimer = this.#o.clock.setTimeout(
        () => {
          this.#retryTimer = null;
          this.#reconcile();
        },
        this.#o.acquireRetryMs,
        { unref: true },
      );
    }
  }

  /**
   * One acquisition round over `ps` (desired, not held, not busy): read every key at once, then create the free
   * ones one after another, then start onGained for each lease won. Why in that order:
   * - the read first: while the old holder's key is live (the usual case after a ring change, until it expires) a
   *   create would only conflict, and on the NATS store creates are stream-level CAS writes (several round trips
   *   each, retried whenever anything else is written in between);
   * - creates in one chain when the store has createMany (on NATS: two round trips plus one per key, instead of
   *   three per key, each retried whenever anything else is written in between), else one at a time; either way
   *   each is timed from its own send (the fence counts from there) and none waits out its deadline in a queue;
   * - this node's renewals just before (#quietBeforeCreate), so they do not break the creates;
   * - onGained (a partition rebuild: CPU-heavy on this event loop) only after the round's creates: rebuilds
   *   started in between stretched the creates of a ten-partition takeover over a second. The leases are
   *   registered (fenced, renewed) as soon as they are won, so waiting costs serving time, never safety.
   */
  async #acquireRound(ps: number[]): Promise<void> {
    const { clock, store, opTimeoutMs, nodeId } = this.#o;
    for (const p of ps) this.#busy.add(p);
    const won: Lease[] = [];
    try {
      const free = await Promise.all(
        ps.map((p) =>
          store.get(leaseKey(p), opTimeoutMs).then(
            (v) => v === null,
            (err: unknown) => {
              if (!(err instanceof LeaseConflictError) && !(err instanceof LeaseTimeoutError)) this.#o.onError(err, `read p${p}`);
              return false;
            },
          ),
        ),
      );
      const toCreate = ps.filter((_, i) => free[i]);
      if (toCreate.length > 0) await this.#quietBeforeCreate();
      if (store.createMany && toCreate.length > 1) {
        const wanted = toCreate.filter((p) => !this.#stopped && !this.#draining && this.#desired.has(p));
        const sentAtMs = new Map<string, number>();
        const value = encodeLease({ nodeId, epoch: 0 });
        const byKey = new Map(wanted.map((p) => [leaseKey(p), p]));
        // The chain gets one create's budget per key (each create in it is timed from its own send), and each lease
        // is registered (fenced, renewed) the moment its create is acknowledged, not when the chain ends.
        const r = await store.createMany(
          wanted.map((p) => ({ key: leaseKey(p), value })),
          Math.min(opTimeoutMs * wanted.length, this.#o.leaseTtlMs),
          (key) => sentAtMs.set(key, clock.monotonicMs()),
          (key, revision) => {
            const p = byKey.get(key);
            const sent = sentAtMs.get(key);
            invariant(p !== undefined && sent !== undefined, `create of ${key} acknowledged but never sent`);
            const lease = this.#register(p, revision, sent);
            if (lease !== null) won.push(lease);
          },
        );
        if (r.error !== null && !(r.error instanceof LeaseConflictError) && !(r.error instanceof LeaseTimeoutError)) this.#o.onError(r.error, "acquire");
        toCreate.length = 0; // the keys not created were held by another node (or not tried): the retry timer tries again
      }
      for (const p of toCreate) {
        if (this.#stopped || this.#draining || !this.#desired.has(p)) continue;
        const sentAtMs = clock.monotonicMs(); // the fence counts from the create, not from the read
        let revision: number;
        try {
          revision = await store.create(leaseKey(p), encodeLease({ nodeId, epoch: 0 }), opTimeoutMs);
        } catch (err) {
          if (!(err instanceof LeaseConflictError) && !(err instanceof LeaseTimeoutError)) this.#o.onError(err, `acquire p${p}`);
          continue; // held by another node (or unreachable): the retry timer tries again
        }
        const lease = this.#register(p, revision, sentAtMs);
        if (lease !== null) won.push(lease);
      }
    } finally {
      for (const p of ps) this.#busy.delete(p);
      for (const lease of won) this.#track(this.#gain(lease)); // also if the store threw: a won lease is never left gaining
    }
  }

  /** A create succeeded: the lease is fenced and renewed from now on (or handed straight back if unwanted). */
  #register(p: number, revision: number, sentAtMs: number): Lease | null {
    const { clock, leaseTtlMs, safetyMarginMs } = this.#o;
    const serveUntilMs = sentAtMs + leaseTtlMs - safetyMarginMs;
    if (this.#stopped || this.#draining || !this.#desired.has(p) || clock.monotonicMs() >= serveUntilMs) {
      this.#track(this.#deleteKey(p, revision)); // too late or no longer wanted: hand it straight back
      return null;
    }
    invariant(!this.#leases.has(p), `second lease for partition ${p}`);
    const lease: Lease = {
      partition: p,
      epoch: revision,
      revision,
      serveUntilMs,
      expiresNoEarlierThanMs: sentAtMs + leaseTtlMs,
      phase: "gaining",
      pendingLoss: null,
      renewing: false,
      fenceTimer: null,
    };
    this.#leases.set(p, lease);
    this.#armFence(lease);
    if (this.#renewTimer === null) this.#scheduleBurst(); // its first renewal is at most one interval away
    return lease;
  }

  /** onGained, then serving (or, if the lease was lost meanwhile or onGained failed, onLost). */
  async #gain(lease: Lease): Promise<void> {
    const { clock } = this.#o;
    const p = lease.partition;
    try {
      await this.#o.onGained(p, lease.epoch);
    } catch (err) {
      this.#o.onError(err, `onGained p${p}`);
      lease.pendingLoss ??= "gain-failed";
    }
    invariant(this.#leases.get(p) === lease && lease.phase === "gaining", `lease of partition ${p} changed while gaining`);
    if (lease.pendingLoss === null && clock.monotonicMs() >= lease.serveUntilMs) lease.pendingLoss = "expired";
    if (lease.pendingLoss !== null) {
      lease.phase = "held"; // onGained completed, so onLost is owed; #lose moves it to "losing" at once
      await this.#lose(lease, lease.pendingLoss);
      return;
    }
    lease.phase = "held";
    this.stats.gained++;
    this.#o.onEvent({ type: "gained", partition: p, epoch: lease.epoch });
    this.#reconcile();
  }

  /**
   * Every lease of this node is renewed in one burst per renewIntervalMs (not on one timer per lease). Why: a
   * create on the NATS store is a stream-level CAS (see NatsLeaseStore), refused and retried whenever any other
   * write lands in the bucket between its read of the stream's last sequence and its publish. Renewals spread
   * over the interval hit that window almost every time once a node holds dozens of leases (an acquisition then
   * took seconds); renewals in bursts leave the stream quiet between bursts. Each lease is still renewed every
   * interval: a lease created just after a burst is first renewed by the next one, at most one interval later,
   * the same bound as a per-lease timer (renewIntervalMs <= (leaseTtlMs - safetyMarginMs) / 2 leaves two tries).
   */
  #scheduleBurst(): void {
    const { clock, renewIntervalMs } = this.#o;
    if (this.#renewTimer) clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = clock.setTimeout(
      () => {
        this.#renewTimer = null;
        void this.#burst();
      },
      renewIntervalMs,
      { unref: true },
    );
  }

  /** Renews every lease not losing and without a renewal in flight; resolves when all of those settled. */
  #burst(): Promise<void> {
    this.#lastBurstMs = this.#o.clock.monotonicMs();
    if (this.#stopped || this.#leases.size === 0) return Promise.resolve(); // re-armed by the next acquisition
    this.#scheduleBurst(); // fixed cadence from burst starts
    const renewals: Promise<void>[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.phase === "losing" || lease.renewing) continue;
      const r = this.#renew(lease);
      this.#track(r);
      renewals.push(r);
    }
    return Promise.allSettled(renewals).then(() => undefined);
  }

  /**
   * Before a create: make sure this node's own renewals will not land in the middle of it. If the last burst is
   * more than half an interval old, renew everything now (early renewals only move deadlines forward) and restart
   * the cadence from here, then create once that burst settled: this node writes nothing else for most of an
   * interval. The nodes taking over a dead node's partitions all do this at about the same moment (they learn of
   * the death within a heartbeat of each other), so their creates mostly meet only each other's creates.
   * Every create of one round waits for the same burst. Bounded: each renewal is bounded by opTimeoutMs.
   */
  #quietBeforeCreate(): Promise<void> {
    if (this.#burstBeforeCreates !== null) return this.#burstBeforeCreates;
    if (this.#leases.size === 0 || this.#o.clock.monotonicMs() - this.#lastBurstMs < this.#o.renewIntervalMs / 2) return Promise.resolve();
    const burst = this.#burst().finally(() => {
      if (this.#burstBeforeCreates === burst) this.#burstBeforeCreates = null;
    });
    this.#burstBeforeCreates = burst;
    return burst;
  }

  async #renew(lease: Lease): Promise<void> {
    const { clock, store, leaseTtlMs, safetyMarginMs, opTimeoutMs, nodeId } = this.#o;
    const p = lease.partition;
    lease.renewing = true;
    const sentAtMs = clock.monotonicMs();
    let revision: number;
    try {
      const value = encodeLease({ nodeId, epoch: lease.epoch });
      // renew: we wrote lease.revision ourselves and have one renewal in flight, the store's cheaper path's premise.
      revision = await (store.renew ? store.renew(leaseKey(p), value, lease.revision, opTimeoutMs) : store.update(leaseKey(p), value, lease.revision, opTimeoutMs));
    } catch (err) {
      lease.renewing = false;
      this.stats.renewFailures++;
      if (err instanceof LeaseConflictError) {
        // Someone else wrote the key: it expired server side (we are already fenced) or was taken.
        if (lease.phase === "gaining") lease.pendingLoss ??= "conflict";
        else if (lease.phase === "held") await this.#lose(lease, "conflict");
      } else if (!(err instanceof LeaseTimeoutError)) {
        this.#o.onError(err, `renew p${p}`);
      }
      return; // timeouts: keep trying; the fence timer stops us in time if none succeeds
    }
    lease.renewing = false;
    const now = clock.monotonicMs();
    if (this.#leases.get(p) !== lease) {
      // Acknowledged after onLost completed and the lease was dropped: give the key back.
      await this.#deleteKey(p, revision);
      return;
    }
    if (lease.phase === "losing" || now >= lease.serveUntilMs) {
      // Acknowledged after we stopped (or had to stop) serving: never resume silently. The key must not be
      // deleted before onLost completes (a new owner could start while we still run), so #lose deletes it
      // with this newer revision once onLost returned.
      lease.revision = revision;
      if (lease.phase === "gaining") lease.pendingLoss ??= "expired";
      else if (lease.phase === "held") await this.#lose(lease, "expired");
      return;
    }
    const serveUntilMs = sentAtMs + leaseTtlMs - safetyMarginMs;
    // One renewal in flight at a time, sent after the previous successful write: the deadline only moves forward.
    invariant(serveUntilMs >= lease.serveUntilMs, `serve deadline of partition ${p} moved backwards`);
    lease.revision = revision;
    lease.serveUntilMs = serveUntilMs;
    lease.expiresNoEarlierThanMs = sentAtMs + leaseTtlMs;
    this.#armFence(lease);
  }

  #armFence(lease: Lease): void {
    const { clock } = this.#o;
    if (lease.fenceTimer) clock.clearTimeout(lease.fenceTimer);
    const delayMs = Math.max(0, lease.serveUntilMs - clock.monotonicMs());
    lease.fenceTimer = clock.setTimeout(() => {
      lease.fenceTimer = null;
      if (this.#leases.get(lease.partition) !== lease) return;
      if (lease.phase === "gaining") lease.pendingLoss ??= "expired";
      else if (lease.phase === "held") this.#track(this.#lose(lease, "expired"));
    }, delayMs);
  }

  /** Stops serving (onLost awaited), forgets the lease, and deletes the key unless someone else took it. */
  async #lose(lease: Lease, reason: LossReason): Promise<void> {
    const { clock } = this.#o;
    if (lease.phase !== "held") return; // gaining: handled when onGained returns; losing: already on it
    lease.phase = "losing";
    if (lease.fenceTimer) clock.clearTimeout(lease.fenceTimer);
    lease.fenceTimer = null;
    try {
      await this.#o.onLost(lease.partition, lease.epoch, reason);
    } catch (err) {
      this.#o.onError(err, `onLost p${lease.partition}`);
    }
    const overrunMs = clock.monotonicMs() - lease.expiresNoEarlierThanMs;
    if (overrunMs > 0 && reason !== "conflict") {
      // onLost ran past the earliest instant another node could acquire: the margin is too small.
      this.stats.fenceOverruns++;
      this.#o.onEvent({ type: "fence-overrun", partition: lease.partition, epoch: lease.epoch, overrunMs });
    }
    invariant(this.#leases.get(lease.partition) === lease, `lease of partition ${lease.partition} replaced while losing`);
    this.#leases.delete(lease.partition);
    this.stats.lost++;
    this.#o.onEvent({ type: "lost", partition: lease.partition, epoch: lease.epoch, reason });
    if (reason !== "conflict") await this.#deleteKey(lease.partition, lease.revision);
    this.#reconcile();
  }

  /** Best-effort CAS delete so the next owner need not wait for expiry (if it fails, the key simply expires). */
  async #deleteKey(p: number, revision: number): Promise<void> {
    this.#busy.add(p);
    try {
      await this.#o.store.delete(leaseKey(p), revision, this.#o.opTimeoutMs);
    } catch (err) {
      if (!(err instanceof LeaseConflictError) && !(err instanceof LeaseTimeoutError)) this.#o.onError(err, `release p${p}`);
    } finally {
      this.#busy.delete(p);
    }
  }
}
