// Holder side of live delivery: one subscription per socket and mailbox, attached to whichever node serves it now.
import type { NatsConnection } from "@nats-io/transport-node";
import type { ListenerCloseReason, LiveListener, SubscribeOptions } from "../mailbox/listeners.ts";
import type { Logger } from "../observability/logger.ts";
import { sleep, type Clock } from "../runtime/clock.ts";
import { ClusterError, ClusterErrorCode, isClusterError } from "./errors.ts";
import { liveSubject, mailboxSubject, parseLiveRequest, toMailboxLayerError, type MailboxRequest } from "./mailbox-wire.ts";
import type { PartitionHost } from "./partition-host.ts";
import { rpcRequest, rpcServe, type RpcServer } from "./rpc.ts";

export interface LiveSubsOptions {
  nodeId: string;
  nc: NatsConnection;
  clock: Clock;
  logger: Logger;
  partitionOf: (mailbox: string) => number;
  /** Local host serving `p`, if any. */
  hostOf: (p: number) => PartitionHost | undefined;
  /** Ring owner of `p` (a hint; the owner re-checks its lease). */
  ownerOf: (p: number) => string | null;
  requestTimeoutMs: number;
  /** How long a subscription keeps looking for a new owner after a handover before live mode ends. */
  reattachTimeoutMs: number;
}

const KNOWN_REASONS: ReadonlySet<string> = new Set(["unsubscribed", "rejected", "failed", "slow", "crashed", "stopped"]);

interface Sub {
  readonly mailbox: string;
  readonly partition: number;
  readonly listener: LiveListener;
  readonly onClosed: ((reason: ListenerCloseReason) => void) | undefined;
  /** Current attachment: its key (remote pushes carry it), where it is, and how to undo it. */
  key: string;
  attachedTo: string | null;
  detach: (() => void) | null;
  closed: boolean;
  attaching: boolean;
}

/**
 * Invariants: a subscription is attached to at most one node at a time; pushes are accepted only for
 * the current attachment key (a deposed owner's late pushes get `false` and it drops its listener).
 * When the serving node changes (its listener closes with "stopped", or the ring moves the partition,
 * or the owner dies) the subscription re-attaches to the new owner. Messages stored in between stay
 * stored and are fetched by pickup: live mode is a hint, never the only copy.
 */
export class LiveSubs {
  readonly #o: LiveSubsOptions;
  readonly #byKey = new Map<string, Sub>();
  readonly #all = new Set<Sub>();
  #seq = 0;
  #server: RpcServer | null = null;

  constructor(o: LiveSubsOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#all.size;
  }

  start(): void {
    this.#server ??= rpcServe(this.#o.nc, liveSubject(this.#o.nodeId), async (raw) => {
      const req = parseLiveRequest(raw);
      const sub = this.#byKey.get(req.subId);
      if (sub === undefined || sub.closed) return false;
      if (req.t === "closed") {
        // "failed" from the owner means its push to us failed in transit (timeout, no responders), not that our
        // socket refused: re-attach, as after a handover. The message it could not push stays stored for pickup.
        const reason = KNOWN_REASONS.has(req.reason) ? (req.reason as ListenerCloseReason) : "failed";
        this.#attachmentClosed(sub, req.subId, reason === "failed" ? "stopped" : reason);
        return true;
      }
      return (await sub.listener(req.msg)) === true;
    });
  }

  stop(): void {
    this.#server?.stop();
    this.#server = null;
    for (const sub of [...this.#all]) this.#close(sub, "stopped");
  }

  /** Initial subscribe: resolves once attached (errors as the mailbox layer's), to the unsubscribe function. */
  async subscribe(mailbox: string, listener: LiveListener, opts: SubscribeOptions = {}): Promise<() => void> {
    const sub: Sub = {
      mailbox,
      partition: this.#o.partitionOf(mailbox),
      listener,
      onClosed: opts.onClosed,
      key: "",
      attachedTo: null,
      detach: null,
      closed: false,
      attaching: false,
    };
    this.#all.add(sub);
    try {
      await this.#attach(sub, this.#o.requestTimeoutMs * 2);
    } catch (e) {
      this.#all.delete(sub);
      sub.closed = true;
      throw toMailboxLayerError(e);
    }
    return () => this.#close(sub, "unsubscribed");
  }

  /** The ring changed: re-attach subscriptions whose partition is now owned by another node. */
  onTopologyChange(): void {
    for (const sub of this.#all) {
      if (sub.closed || sub.attaching) continue;
      const owner = this.#o.ownerOf(sub.partition);
      if (sub.attachedTo !== null && owner !== null && owner !== sub.attachedTo) this.#reattach(sub);
    }
  }

  #attachmentClosed(sub: Sub, key: string, reason: ListenerCloseReason): void {
    if (sub.closed || key !== sub.key) return; // an old attachment
    if (reason === "stopped") this.#reattach(sub);
    else this.#close(sub, reason);
  }

  #reattach(sub: Sub): void {
    this.#undo(sub);
    this.#attach(sub, this.#o.reattachTimeoutMs).catch((e: unknown) => {
      if (!sub.closed) this.#o.logger.info({ partition: sub.partition, err: e instanceof Error ? e.name : "unknown" }, "cluster: live delivery not re-attached");
      this.#close(sub, "failed");
    });
  }

  /** Tries the local host, then the ring owner, with backoff until `timeoutMs`. */
  async #attach(sub: Sub, timeoutMs: number): Promise<void> {
    const { clock, nodeId } = this.#o;
    const deadline = clock.monotonicMs() + timeoutMs;
    sub.attaching = true;
    try {
      for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 500)) {
        if (sub.closed) throw new ClusterError(ClusterErrorCode.Closed, "subscription closed");
        const key = `s${++this.#seq}`;
        const host = this.#o.hostOf(sub.partition);
        try {
          if (host?.serving) {
            sub.key = key;
            let done = false;
            const undo = await host.subscribe(sub.mailbox, (m) => (sub.key === key ? sub.listener(m) : Promise.resolve(false)), {
              onClosed: (reason) => {
                done = true;
                this.#attachmentClosed(sub, key, reason);
              },
            });
            if (done) continue;
            sub.attachedTo = nodeId;
            sub.detach = undo;
            return;
          }
          const owner = this.#o.ownerOf(sub.partition);
          if (owner !== null && owner !== nodeId) {
            sub.key = key;
            this.#byKey.set(key, sub);
            const req: MailboxRequest = { op: "subscribe", mailbox: sub.mailbox, holder: nodeId, subId: key };
            await rpcRequest(this.#o.nc, mailboxSubject(owner), req, { timeoutMs: this.#o.requestTimeoutMs });
            sub.attachedTo = owner;
            sub.detach = () => {
              this.#byKey.delete(key);
              const unsub: MailboxRequest = { op: "unsubscribe", holder: nodeId, subId: key };
              rpcRequest(this.#o.nc, mailboxSubject(owner), unsub, { timeoutMs: this.#o.requestTimeoutMs }).catch(() => {});
            };
            return;
          }
        } catch (e) {
          this.#byKey.delete(key);
          if (!(isClusterError(e) && e.retryable && e.code !== ClusterErrorCode.Remote)) throw e;
        }
        if (clock.monotonicMs() + delayMs > deadline) throw new ClusterError(ClusterErrorCode.Unavailable, "no node serves this mailbox right now");
        await sleep(clock, delayMs);
      }
    } finally {
      sub.attaching = false;
    }
  }

  #undo(sub: Sub): void {
    const detach = sub.detach;
    sub.detach = null;
    sub.attachedTo = null;
    sub.key = "";
    detach?.();
  }

  #close(sub: Sub, reason: ListenerCloseReason): void {
    if (sub.closed) return;
    sub.closed = true;
    this.#all.delete(sub);
    this.#undo(sub);
    try {
      sub.onClosed?.(reason);
    } catch {
      // must not throw (contract); ignore if it does
    }
  }
}
