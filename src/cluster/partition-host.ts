// One owned partition on its owner: a rebuildable SQLite cache fed from the stream, its mailbox actors, confirmations.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { MailboxActor, type MailboxActorOptions } from "../mailbox/mailbox-actor.ts";
import type { LiveListener, SubscribeOptions } from "../mailbox/listeners.ts";
import type { Logger } from "../observability/logger.ts";
import { PartitionReplica, type PartitionReplicaOptions } from "../replication/replica.ts";
import type { MailRecord } from "../replication/record.ts";
import type { Clock } from "../runtime/clock.ts";
import { isStorageError, StorageErrorCode } from "../storage/errors.ts";
import { openSqliteDriver, type SqliteStorageDriver } from "../storage/sqlite/driver.ts";
import type { MailboxStats, StoredMessage } from "../storage/types.ts";
import { ClusterError, ClusterErrorCode } from "./errors.ts";

/**
 * Quota is enforced softly at accept time (any node, from published usage): a record in the stream was
 * already acknowledged to its sender, so applying it must never be refused.
 */
const APPLY_QUOTA = { maxCount: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };
/** Stream seqs confirmed per replica.confirm call (its own bound is 1000). */
const CONFIRM_CHUNK = 500;
/** Age at which the owner deletes confirmation markers: above the journals' 120 s retention of published records. */
const MARKER_MAX_AGE_MS = 300_000;
/** Bound on how long close() waits for the consumer to stop (onLost must finish within the lease safety margin). */
const CLOSE_WAIT_MS = 200;
/** A rebuild slower than this is logged with its phases (failover time is mostly rebuild time). */
const SLOW_REBUILD_MS = 1000;

export interface PartitionHostOptions {
  partition: number;
  epoch: number;
  /** Directory of the partition caches (DATA_DIR/partitions); the file is p-<n>.sqlite. */
  dir: string;
  nc: NatsConnection;
  clock: Clock;
  logger: Logger;
  replica?: Omit<PartitionReplicaOptions, "nc" | "clock">;
  mailbox?: Pick<MailboxActorOptions, "maxListenersPerMailbox" | "maxInFlightPerListener" | "actors">;
  /** True while the lease manager still holds this partition at this epoch (checked on every serving action). */
  isHeld: () => boolean;
  /** A mailbox's count or bytes changed (for the usage board). */
  onUsageChanged?: (mailbox: string) => void;
}

interface Applied {
  mailbox: string;
  /** The message's expiry (null = never): the owner's sweep deletes it from the cache and the stream then. */
  expiresAtMs: number | null;
  /** Stream seqs carrying this message (more than one if it was re-published after the dedup window). */
  seqs: number[];
}

/**
 * Lifecycle: open() deletes any previous cache file, opens a fresh one and replays the stream into it
 * (PartitionReplica); `serving` is true only once caught up and while the lease is held. close() stops
 * serving at once (fencing), then releases the actor, the consumer and the file.
 */
export class PartitionHost {
  readonly partition: number;
  readonly epoch: number;
  readonly #o: PartitionHostOptions;
  readonly #driver: SqliteStorageDriver;
  readonly #actor: MailboxActor;
  readonly #replica: PartitionReplica;
  readonly #path: string;
  /** Stored message id -> where it came from in the stream; rebuilt with the cache. */
  readonly #applied = new Map<string, Applied>();
  /** Mailboxes written during the rebuild: their usage is announced once, when the host is caught up. */
  readonly #rebuiltMailboxes = new Set<string>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(o: PartitionHostOptions, path: string) {
    this.#o = o;
    this.partition = o.partition;
    this.epoch = o.epoch;
    this.#path = path;
    // The cache is deleted and rebuilt from the stream on every open, so it is never fsynced (the stream and the
    // accepting node's journal hold the durable copies).
    this.#driver = openSqliteDriver({ path, clock: o.clock, durability: "off" });
    this.#actor = new MailboxActor({
      driver: this.#driver,
      clock: o.clock,
      defaultQuota: APPLY_QUOTA,
      ...o.mailbox,
      actors: { ...o.mailbox?.actors, logger: o.logger },
    });
    this.#replica = new PartitionReplica(o.nc, { ...o.replica, clock: o.clock, log: o.logger });
  }

  /** Rebuilds the partition from the stream; resolves once caught up (then `serving` follows the lease). */
  static async open(o: PartitionHostOptions): Promise<PartitionHost> {
    const startedMs = o.clock.monotonicMs();
    const path = join(o.dir, `p-${o.partition}.sqlite`);
    await removeDbFiles(path); // a cache from an earlier ownership may be stale: always rebuild
    const host = new PartitionHost(o, path);
    const cacheOpenedMs = o.clock.monotonicMs();
    let consumerOpenedMs = cacheOpenedMs;
    try {
      await host.#replica.open(o.partition, o.epoch, { apply: (rec, seq) => host.#apply(rec, seq) });
      consumerOpenedMs = o.clock.monotonicMs();
      await host.#replica.whenCaughtUp();
    } catch (e) {
      await host.close();
      throw e;
    }
    const doneMs = o.clock.monotonicMs();
    if (doneMs - startedMs >= SLOW_REBUILD_MS) {
      const r = host.#replica.status();
      o.logger.warn(
        {
          partition: o.partition,
          totalMs: Math.round(doneMs - startedMs),
          cacheMs: Math.round(cacheOpenedMs - startedMs),
          consumerMs: Math.round(consumerOpenedMs - cacheOpenedMs),
          replayMs: Math.round(doneMs - consumerOpenedMs),
          records: r.applied,
          consumerRestarts: r.consumerRestarts,
        },
        "cluster: slow partition rebuild",
      );
    }
    for (const mailbox of host.#rebuiltMailboxes) o.onUsageChanged?.(mailbox);
    host.#rebuiltMailboxes.clear();
    return host;
  }

  /** Caught up, not failed, not closed, and the lease is held at our epoch. */
  get serving(): boolean {
    return !this.#closed && this.#replica.caughtUp && this.#replica.status().failure === null && this.#o.isHeld();
  }

  /** The replica stopped (consumer lost, sink failed): the owner must rebuild this partition. */
  get failed(): boolean {
    return this.#replica.status().failure !== null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** `consumerRestarts`: stalled consumers the replica's progress watchdog reopened (e.g. its NATS server died). */
  status(): { partition: number; epoch: number; serving: boolean; appliedSeq: number; consumerRestarts: number; tracked: number } {
    const r = this.#replica.status();
    return {
      partition: this.partition,
      epoch: this.epoch,
      serving: this.serving,
      appliedSeq: r.appliedSeq,
      consumerRestarts: r.consumerRestarts,
      tracked: this.#applied.size,
    };
  }

  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    this.#assertServing();
    return this.#actor.list(mailbox, opts);
  }

  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    this.#assertServing();
    return this.#actor.stats(mailbox, recipientDid);
  }

  /**
   * messages-received: remove locally, then delete the messages from the stream. Resolves only once the
   * stream deletions are acknowledged, so a confirmed message cannot come back after a failover. If they
   * fail, the ids stay tracked and a retry of the same messages-received confirms them.
   *
   * The lease is checked again once the deletions are acknowledged. Until our serve deadline no other node can
   * hold the partition, so deletions acknowledged before it are applied before any new owner rebuilds. Acknowledged
   * later (slow stream, held link, handover), a new owner may already have rebuilt with these messages and would
   * deliver them again after we told the client they were gone: then we answer "not owner" and the client's retry
   * confirms them through the new owner, whose cache is the one that counts.
   */
  async remove(mailbox: string, ids: readonly string[]): Promise<number> {
    this.#assertServing();
    const removed = await this.#actor.remove(mailbox, ids);
    const seqs: number[] = [];
    const done: string[] = [];
    for (const id of ids) {
      const a = this.#applied.get(id);
      if (a === undefined || a.mailbox !== mailbox) continue; // never confirm another mailbox's message
      seqs.push(...a.seqs);
      done.push(id);
    }
    this.#assertServing(); // the lease may have ended while the removal ran: let the new owner confirm
    for (let i = 0; i < seqs.length; i += CONFIRM_CHUNK) {
      try {
        await this.#replica.confirm(seqs.slice(i, i + CONFIRM_CHUNK));
      } catch (e) {
        throw new ClusterError(ClusterErrorCode.Unavailable, "could not confirm messages in the stream; retry", { cause: e });
      }
    }
    if (seqs.length > 0) this.#assertServing();
    for (const id of done) this.#applied.delete(id);
    if (removed > 0) this.#o.onUsageChanged?.(mailbox);
    return removed;
  }

  /**
   * The owner's expiry sweep: messages whose expiresAtMs <= nowMs (at most `limit`) are removed like a
   * messages-received -- from the cache and from the stream -- so they neither linger in the cache nor come
   * back on the next rebuild. Only while serving (a deposed owner leaves it to the new one). Resolves the
   * number removed from the cache.
   */
  async sweepExpired(nowMs: number, limit: number): Promise<number> {
    if (!this.serving) return 0;
    // Confirmation markers outlive the journals' retention of what they confirm (120 s), then go.
    await this.#replica.pruneMarkers(this.#o.clock.nowMs(), MARKER_MAX_AGE_MS).catch((e: unknown) => {
      this.#o.logger.warn({ partition: this.partition, err: e instanceof Error ? e.name : "unknown" }, "cluster: pruning confirmation markers failed");
    });
    const due = new Map<string, string[]>();
    let n = 0;
    for (const [id, a] of this.#applied) {
      if (a.expiresAtMs === null || a.expiresAtMs > nowMs) continue;
      const ids = due.get(a.mailbox) ?? [];
      ids.push(id);
      due.set(a.mailbox, ids);
      if (++n >= limit) break;
    }
    let removed = 0;
    for (const [mailbox, ids] of due) removed += await this.remove(mailbox, ids);
    return removed;
  }

  subscribe(mailbox: string, listener: LiveListener, opts?: SubscribeOptions): Promise<() => void> {
    this.#assertServing();
    return this.#actor.subscribe(mailbox, listener, opts);
  }

  /** Stops serving at once; releases actor (live listeners closed "stopped"), consumer and cache file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await this.#actor.stop({ drain: false }).catch(() => {});
    const { clock } = this.#o;
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    await Promise.race([
      this.#replica.close().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, CLOSE_WAIT_MS, { unref: true });
      }),
    ]);
    if (timer) clock.clearTimeout(timer);
    await this.#driver.close().catch(() => {});
    await removeDbFiles(this.#path).catch(() => {});
    this.#applied.clear();
  }

  #assertServing(): void {
    if (!this.serving) throw new ClusterError(ClusterErrorCode.NotOwner, `partition ${this.partition} is not served here`);
  }

  /**
   * The replica sink: idempotent, in stream order (the replica issues applies in stream order; both paths below
   * end in the driver's FIFO group committer).
   *
   * Rebuild (not caught up yet): straight into the driver, not through the mailbox actor. The actor serialises a
   * mailbox's operations, one storage commit after another, so a partition with one busy mailbox was rebuilt at
   * one record per event-loop turn (seconds for a few thousand records on a loaded node). Issued without waiting,
   * the records share group commits (up to the driver's batch size per transaction). Safe because nothing else
   * touches the cache before it is caught up: `serving` is false (list/stats/remove/subscribe refuse), so no actor
   * and no live listener exists yet, and the replica declares catch-up only after every rebuild apply settled, so
   * the first apply through the actor is ordered after all of them.
   */
  async #apply(rec: MailRecord, seq: number): Promise<void> {
    if (this.#closed) throw new ClusterError(ClusterErrorCode.Closed, "partition host closed");
    let id = rec.id;
    const req = {
      id: rec.id,
      mailbox: rec.mailbox,
      recipientDid: rec.recipientDid,
      payload: rec.payload,
      receivedAtMs: rec.receivedAtMs,
      expiresAtMs: rec.expiresAtMs,
      dedupKey: rec.dedupId,
    };
    try {
      const rebuilding = !this.#replica.caughtUp;
      const result = rebuilding ? await this.#driver.messages.enqueue(req, APPLY_QUOTA) : (await this.#actor.deliver(req)).result;
      if (result.status === "quota_exceeded") throw new Error("invariant: apply quota is unbounded");
      id = result.id; // a duplicate maps onto the stored copy, so confirming it confirms this seq too
      if (result.status === "stored") {
        if (rebuilding) this.#rebuiltMailboxes.add(rec.mailbox);
        else this.#o.onUsageChanged?.(rec.mailbox);
      }
    } catch (e) {
      // Same id already stored for another message: cannot happen with random ids; keep the seq tracked anyway.
      if (!(isStorageError(e) && e.code === StorageErrorCode.Conflict)) throw e;
      this.#o.logger.warn({ partition: this.partition, streamSeq: seq }, "cluster: message id conflict while applying");
    }
    const entry = this.#applied.get(id);
    if (entry === undefined) this.#applied.set(id, { mailbox: rec.mailbox, expiresAtMs: rec.expiresAtMs, seqs: [seq] });
    else if (!entry.seqs.includes(seq)) entry.seqs.push(seq);
  }
}

async function removeDbFiles(path: string): Promise<void> {
  await Promise.all(["", "-wal", "-shm"].map((suffix) => rm(path + suffix, { force: true })));
}
