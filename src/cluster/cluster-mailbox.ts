// ClusterMailbox: the MailboxPort of a cluster node. Deliveries go to the replicated journal on any node;
// reads, removals and live subscriptions run on the partition's owner (locally or by NATS request).
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { DeliverResult } from "../mailbox/mailbox-actor.ts";
import type { LiveListener, SubscribeOptions } from "../mailbox/listeners.ts";
import type { MailboxPort } from "../mailbox/port.ts";
import type { Logger } from "../observability/logger.ts";
import { isReplicationError, type AcceptResult, type MailRecord } from "../replication/index.ts";
import { sleep, type Clock } from "../runtime/clock.ts";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";
import type { EnqueueRequest, MailboxStats, Quota, StoredMessage } from "../storage/types.ts";
import { checkKey } from "../storage/validate.ts";
import { ClusterError, ClusterErrorCode, isClusterError } from "./errors.ts";
import { LiveSubs } from "./live-subs.ts";
import { mailboxSubject, parseStoredMessage, toMailboxLayerError, type MailboxRequest } from "./mailbox-wire.ts";
import { partitionOf } from "./partition.ts";
import type { PartitionHost } from "./partition-host.ts";
import { rpcRequest } from "./rpc.ts";
import type { UsageBoard } from "./usage.ts";

export interface ClusterMailboxOptions {
  nodeId: string;
  nc: NatsConnection;
  clock: Clock;
  logger: Logger;
  partitions: number;
  journal: { accept(rec: MailRecord): Promise<AcceptResult> };
  hostOf: (p: number) => PartitionHost | undefined;
  ownerOf: (p: number) => string | null;
  usage: Pick<UsageBoard, "exceeds">;
  defaultQuota: Quota;
  /** Deadline of one request to an owner. Default 2000. */
  requestTimeoutMs?: number;
  /** Total time a call keeps looking for the serving owner (handover, failover) before a 503. Default 5000. */
  routeTimeoutMs?: number;
  /** Live subscriptions look this long for a new owner after a handover. Default 30000. */
  reattachTimeoutMs?: number;
}

/**
 * Nats-Msg-Id of a delivery: the mailbox's dedup key is unique per mailbox only, the stream's
 * duplicate window is global, so both go into a fixed-size, header-safe hash.
 */
export function dedupIdOf(mailbox: string, dedupKey: string): string {
  return "m1:" + createHash("sha256").update(mailbox).update("\u0000").update(dedupKey).digest("base64url");
}

export class ClusterMailbox implements MailboxPort {
  readonly #o: ClusterMailboxOptions & { requestTimeoutMs: number; routeTimeoutMs: number };
  readonly live: LiveSubs;
  readonly counters = { accepted: 0, journaledOnly: 0, quotaRefused: 0, routedRemote: 0, routeFailures: 0 };

  constructor(o: ClusterMailboxOptions) {
    this.#o = { ...o, requestTimeoutMs: o.requestTimeoutMs ?? 2000, routeTimeoutMs: o.routeTimeoutMs ?? 5000 };
    this.live = new LiveSubs({
      nodeId: o.nodeId,
      nc: o.nc,
      clock: o.clock,
      logger: o.logger,
      partitionOf: (m) => this.#partition(m),
      hostOf: o.hostOf,
      ownerOf: o.ownerOf,
      requestTimeoutMs: this.#o.requestTimeoutMs,
      reattachTimeoutMs: o.reattachTimeoutMs ?? 30_000,
    });
  }

  /**
   * Durable on resolve: journaled locally and (normally) acknowledged by JetStream, on this node whatever
   * the owner. Always "stored" with the new id: duplicates are dropped by Nats-Msg-Id and at the owner.
   * `notified` is 0: live listeners are served by the owner once it applies the record.
   */
  async deliver(req: EnqueueRequest): Promise<DeliverResult> {
    checkKey(req?.mailbox, "mailbox");
    checkKey(req.dedupKey, "dedupKey");
    const limit = this.#o.usage.exceeds(req.mailbox, req.payload.byteLength, this.#o.defaultQuota);
    if (limit !== null) {
      this.counters.quotaRefused++;
      return { result: { status: "quota_exceeded", limit }, notified: 0 };
    }
    const rec: MailRecord = {
      id: req.id,
      dedupId: dedupIdOf(req.mailbox, req.dedupKey),
      mailbox: req.mailbox,
      partition: this.#partition(req.mailbox),
      recipientDid: req.recipientDid,
      payload: req.payload,
      receivedAtMs: req.receivedAtMs,
      expiresAtMs: req.expiresAtMs,
    };
    let outcome: AcceptResult;
    try {
      outcome = await this.#o.journal.accept(rec);
    } catch (e) {
      if (isReplicationError(e) && !e.retryable) throw new StorageError(StorageErrorCode.InvalidArgument, "delivery out of bounds", { cause: e });
      throw new StorageError(StorageErrorCode.Unavailable, "could not accept the delivery; retry later", { retryable: true, cause: e });
    }
    this.counters.accepted++;
    if (outcome === "journaled") this.counters.journaledOnly++;
    return { result: { status: "stored", id: req.id }, notified: 0 };
  }

  async list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    const req: MailboxRequest = { op: "list", mailbox, limit: opts.limit, ...(opts.recipientDid !== undefined ? { recipientDid: opts.recipientDid } : {}) };
    const out = await this.#route(mailbox, (h) => h.list(mailbox, opts), req);
    if (!Array.isArray(out)) throw new StorageError(StorageErrorCode.Unavailable, "bad reply from the owner", { retryable: true });
    return out.map(parseStoredMessage);
  }

  async stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    const req: MailboxRequest = { op: "stats", mailbox, ...(recipientDid !== undefined ? { recipientDid } : {}) };
    return (await this.#route(mailbox, (h) => h.stats(mailbox, recipientDid), req)) as MailboxStats;
  }

  async remove(mailbox: string, ids: readonly string[]): Promise<number> {
    const n = await this.#route(mailbox, (h) => h.remove(mailbox, ids), { op: "remove", mailbox, ids: [...ids] });
    if (typeof n !== "number") throw new StorageError(StorageErrorCode.Unavailable, "bad reply from the owner", { retryable: true });
    return n;
  }

  subscribe(mailbox: string, listener: LiveListener, opts?: SubscribeOptions): Promise<() => void> {
    try {
      checkKey(mailbox, "mailbox");
    } catch (e) {
      return Promise.reject(e);
    }
    return this.live.subscribe(mailbox, listener, opts);
  }

  #partition(mailbox: string): number {
    checkKey(mailbox, "mailbox");
    return partitionOf(mailbox, this.#o.partitions);
  }

  /**
   * Runs `local` if this node serves the partition, else asks the ring owner; on "not owner", no
   * responders or a timeout it retries with backoff until routeTimeoutMs (handover or failover in
   * progress), then fails with a retryable StorageError `unavailable`.
   */
  async #route<T>(mailbox: string, local: (h: PartitionHost) => Promise<T>, remote: MailboxRequest): Promise<unknown> {
    const p = this.#partition(mailbox);
    const { clock, nodeId } = this.#o;
    const deadline = clock.monotonicMs() + this.#o.routeTimeoutMs;
    let last: unknown = null;
    for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 250)) {
      try {
        const host = this.#o.hostOf(p);
        if (host?.serving) return await local(host);
        const owner = this.#o.ownerOf(p);
        if (owner !== null && owner !== nodeId) {
          this.counters.routedRemote++;
          const timeoutMs = Math.max(50, Math.min(this.#o.requestTimeoutMs, deadline - clock.monotonicMs()));
          return await rpcRequest(this.#o.nc, mailboxSubject(owner), remote, { timeoutMs });
        }
      } catch (e) {
        last = e;
        if (!(isClusterError(e) && e.retryable && e.code !== ClusterErrorCode.Remote)) throw toMailboxLayerError(e);
      }
      const remaining = deadline - clock.monotonicMs();
      if (remaining <= 0) {
        this.counters.routeFailures++;
        throw toMailboxLayerError(last ?? new ClusterError(ClusterErrorCode.Unavailable, "no node serves this mailbox right now"));
      }
      await sleep(clock, Math.min(delayMs, remaining));
    }
  }
}
