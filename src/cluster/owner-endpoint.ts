// Owner side of routing: answers mailbox calls for partitions this node serves, and pushes live messages to holders.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/logger.ts";
import type { StoredMessage } from "../storage/types.ts";
import { ClusterError, ClusterErrorCode } from "./errors.ts";
import { capListBytes, DEFAULT_MAX_PAYLOAD_BYTES, liveSubject, mailboxSubject, parseMailboxRequest, REPLY_HEADROOM_BYTES, type LiveRequest, type MailboxRequest } from "./mailbox-wire.ts";
import type { PartitionHost } from "./partition-host.ts";
import { rpcRequest, rpcServe, type RpcServer } from "./rpc.ts";

export interface OwnerEndpointOptions {
  nodeId: string;
  nc: NatsConnection;
  logger: Logger;
  /** The host serving the partition of `mailbox` here, if any (serving is re-checked on each call: fencing). */
  hostFor: (mailbox: string) => PartitionHost | undefined;
  /** Deadline of one live push to the holder. */
  pushTimeoutMs: number;
  /** Remote live listeners kept at once. Default 100_000. */
  maxRemoteListeners?: number;
}

/** Listener close reasons the holder caused itself: it needs no notice for those. */
const HOLDER_CAUSED = new Set(["unsubscribed", "rejected"]);

export class OwnerEndpoint {
  readonly #o: OwnerEndpointOptions;
  readonly #remote = new Map<string, () => void>();
  #server: RpcServer | null = null;

  constructor(o: OwnerEndpointOptions) {
    this.#o = o;
  }

  get remoteListeners(): number {
    return this.#remote.size;
  }

  start(): void {
    this.#server ??= rpcServe(this.#o.nc, mailboxSubject(this.#o.nodeId), (req) => this.#handle(parseMailboxRequest(req)), {
      onError: (err) => this.#o.logger.warn({ err: err instanceof Error ? err.name : "unknown" }, "cluster: mailbox request failed"),
    });
  }

  stop(): void {
    this.#server?.stop();
    this.#server = null;
    for (const unsubscribe of [...this.#remote.values()]) unsubscribe();
    this.#remote.clear();
  }

  async #handle(req: MailboxRequest): Promise<unknown> {
    if (req.op === "unsubscribe") {
      this.#remote.get(`${req.holder}/${req.subId}`)?.();
      return true;
    }
    const host = this.#o.hostFor(req.mailbox);
    if (host === undefined || !host.serving) throw new ClusterError(ClusterErrorCode.NotOwner, "mailbox not served here");
    switch (req.op) {
      case "list": {
        const msgs = await host.list(req.mailbox, req.recipientDid === undefined ? { limit: req.limit } : { limit: req.limit, recipientDid: req.recipientDid });
        return capListBytes(msgs, this.#maxReplyBytes());
      }
      case "stats":
        return host.stats(req.mailbox, req.recipientDid);
      case "remove":
        return host.remove(req.mailbox, req.ids);
      case "subscribe":
        return this.#subscribe(host, req.mailbox, req.holder, req.subId);
    }
  }

  /** The server's max_payload (from the connection's INFO, which follows reconnects) minus envelope headroom. */
  #maxReplyBytes(): number {
    const maxPayload = this.#o.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES;
    return Math.max(64 * 1024, maxPayload - REPLY_HEADROOM_BYTES);
  }

  async #subscribe(host: PartitionHost, mailbox: string, holder: string, subId: string): Promise<boolean> {
    const key = `${holder}/${subId}`;
    if (this.#remote.has(key)) return true; // a retried subscribe
    if (this.#remote.size >= (this.#o.maxRemoteListeners ?? 100_000)) throw new ClusterError(ClusterErrorCode.Overloaded, "too many remote live listeners");
    const { nc, pushTimeoutMs } = this.#o;
    const push = async (msg: StoredMessage): Promise<boolean> => {
      const body: LiveRequest = { t: "msg", subId, msg };
      // The holder answering false means its socket is gone: it knows ("rejected"). A push that fails in transit
      // (timeout, no responders) rejects, so the listener closes as "failed" and the holder is told, below.
      return (await rpcRequest<boolean>(nc, liveSubject(holder), body, { timeoutMs: pushTimeoutMs })) === true;
    };
    let unsubscribe: (() => void) | undefined;
    let closed = false;
    unsubscribe = await host.subscribe(mailbox, push, {
      onClosed: (reason) => {
        closed = true;
        if (unsubscribe !== undefined && this.#remote.get(key) === unsubscribe) this.#remote.delete(key);
        if (HOLDER_CAUSED.has(reason)) return;
        // "stopped" (partition handed over), "failed" (a push failed in transit), "slow", "crashed": tell the holder
        // so it re-subscribes or ends live mode (if the holder itself is gone, the notice fails too: harmless).
        const notice: LiveRequest = { t: "closed", subId, reason };
        rpcRequest(nc, liveSubject(holder), notice, { timeoutMs: pushTimeoutMs }).catch(() => {});
      },
    });
    if (!closed) this.#remote.set(key, unsubscribe);
    return true;
  }
}
