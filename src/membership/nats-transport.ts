// Gossip over core NATS: heartbeats and suspect notices on broadcast subjects, pings by request/reply.
import { decode, encode } from "@msgpack/msgpack";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeHeartbeat, decodeSuspect, encodeHeartbeat, encodeSuspect, MAX_GOSSIP_BYTES } from "./codec.ts";
import type { GossipTransport, PingHandler, Unsubscribe } from "./transport.ts";
import type { Heartbeat, SuspectNotice } from "./types.ts";
import { NODE_ID_RE, pingSubject, SUBJECT_HEARTBEAT, SUBJECT_SUSPECT } from "./types.ts";

/** Bound on a relayed probe's timeout, whatever the requester asks for. */
const MAX_PING_TIMEOUT_MS = 10_000;

/**
 * Core NATS (no JetStream: gossip must keep working when JetStream has no quorum). Publishing while
 * disconnected is buffered by the client and may arrive late; receivers only care about freshness via
 * incarnation and their own clock, so late heartbeats are harmless.
 */
export class NatsGossipTransport implements GossipTransport {
  readonly #nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  publishHeartbeat(hb: Heartbeat): void {
    this.#publish(SUBJECT_HEARTBEAT, encodeHeartbeat(hb));
  }

  publishSuspect(notice: SuspectNotice): void {
    this.#publish(SUBJECT_SUSPECT, encodeSuspect(notice));
  }

  onHeartbeat(fn: (hb: Heartbeat) => void): Unsubscribe {
    return this.#subscribe(SUBJECT_HEARTBEAT, (data) => {
      const hb = decodeHeartbeat(data);
      if (hb) fn(hb);
    });
  }

  onSuspect(fn: (n: SuspectNotice) => void): Unsubscribe {
    return this.#subscribe(SUBJECT_SUSPECT, (data) => {
      const n = decodeSuspect(data);
      if (n) fn(n);
    });
  }

  servePings(nodeId: string, handler: PingHandler): Unsubscribe {
    const sub = this.#nc.subscribe(pingSubject(nodeId), {
      callback: (err, msg) => {
        if (err || msg.data.byteLength > MAX_GOSSIP_BYTES) return;
        const req = decodePing(msg.data);
        if (!req) return;
        handler(req).then(
          (ok) => safe(() => msg.respond(encode({ ok }))),
          () => safe(() => msg.respond(encode({ ok: false }))),
        );
      },
    });
    return unsubscriber(sub);
  }

  async ping(from: string, via: string, target: string | null, timeoutMs: number): Promise<boolean> {
    try {
      const reply = await this.#nc.request(pingSubject(via), encode({ from, target, timeoutMs }), { timeout: timeoutMs });
      if (reply.data.byteLength > MAX_GOSSIP_BYTES) return false;
      const v = decode(reply.data) as { ok?: unknown } | null;
      return v !== null && typeof v === "object" && v.ok === true;
    } catch {
      return false; // timeout, no responders, disconnected, bad reply: all mean "not reached"
    }
  }

  #publish(subject: string, data: Uint8Array): void {
    safe(() => this.#nc.publish(subject, data));
  }

  #subscribe(subject: string, fn: (data: Uint8Array) => void): Unsubscribe {
    const sub = this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) fn(msg.data);
      },
    });
    return unsubscriber(sub);
  }
}

function decodePing(data: Uint8Array): { from: string; target: string | null; timeoutMs: number } | null {
  try {
    const v = decode(data, { maxStrLength: 128, maxMapLength: 8, maxArrayLength: 0 }) as Record<string, unknown> | null;
    if (v === null || typeof v !== "object") return null;
    const { from, target, timeoutMs } = v;
    if (typeof from !== "string" || !NODE_ID_RE.test(from)) return null;
    if (target !== null && (typeof target !== "string" || !NODE_ID_RE.test(target))) return null;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return null;
    return { from, target, timeoutMs: Math.min(timeoutMs, MAX_PING_TIMEOUT_MS) };
  } catch {
    return null;
  }
}

function unsubscriber(sub: Subscription): Unsubscribe {
  return () => safe(() => sub.unsubscribe());
}

/** Publishing on a closed connection throws; gossip is best-effort, so that is a dropped message. */
function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    /* dropped */
  }
}
