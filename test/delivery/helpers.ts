// Shared helpers for delivery tests: NATS connections with fast reconnect, unique bucket names, awaiting connection status.
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";

/** Reconnects forever and quickly, as a node should. */
export function connectNats(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50, timeout: 2000 });
}

let bucketNo = 0;
export function freshBucket(prefix = "breakers"): string {
  return `${prefix}_${process.pid}_${++bucketNo}`;
}

export async function destroyBucket(nc: NatsConnection, bucket: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
}

/** Resolves on the connection's next status event of `type` (start waiting before causing it). */
export async function nextStatus(nc: NatsConnection, type: string): Promise<void> {
  for await (const s of nc.status()) if (s.type === type) return;
}
