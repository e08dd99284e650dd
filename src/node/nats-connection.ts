// One place for how a node connects to NATS, so every connection it opens behaves the same under faults.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/types.ts";

/**
 * Reconnects forever (a node outlives NATS outages), notices a silently dead link within ~4 s (ping 2 s x 2), and
 * uses only the configured servers: servers advertise their own (possibly internal) client addresses, and a node
 * behind a proxy or NAT must not wander off to addresses it cannot keep using.
 */
export function connectNats(config: Config, purpose?: string): Promise<NatsConnection> {
  const c = config.cluster;
  return connect({
    servers: [...c.natsUrls],
    name: purpose === undefined ? `haven-${c.nodeId}` : `haven-${c.nodeId}-${purpose}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 2000,
    maxPingOut: 2,
    timeout: 5000,
    ignoreClusterUpdates: true,
  });
}
