// Gossip transport interface: heartbeats and suspicion broadcast, plus ping request/reply for (indirect) probes.
import type { Heartbeat, SuspectNotice } from "./types.ts";

/** A ping addressed to this node: `target` null = "are you there?", else "please ping `target` for me". */
export interface PingRequest {
  from: string;
  target: string | null;
  timeoutMs: number;
}

/** Answers a ping: true = the node (or, for an indirect request, the target) answered. Must not reject. */
export type PingHandler = (req: PingRequest) => Promise<boolean>;

export type Unsubscribe = () => void;

/**
 * What the failure detector needs from the network. Implementations: NatsGossipTransport (core NATS
 * subjects) and MemoryGossipHub (in-process, with fault injection, for ManualClock tests).
 * Delivery is best-effort (at most once); receivers validate everything.
 */
export interface GossipTransport {
  publishHeartbeat(hb: Heartbeat): void;
  publishSuspect(notice: SuspectNotice): void;
  onHeartbeat(fn: (hb: Heartbeat) => void): Unsubscribe;
  onSuspect(fn: (notice: SuspectNotice) => void): Unsubscribe;
  /** Answers pings addressed to `nodeId` with `handler`. */
  servePings(nodeId: string, handler: PingHandler): Unsubscribe;
  /**
   * Sends a ping request to `via` (target null: a direct ping of `via`; else an indirect probe of
   * `target` through `via`). Resolves true when a positive answer came within `timeoutMs`, false on
   * a negative answer, timeout or any error: never rejects.
   */
  ping(from: string, via: string, target: string | null, timeoutMs: number): Promise<boolean>;
}
