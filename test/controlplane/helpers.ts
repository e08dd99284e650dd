// Shared helpers for control-plane tests: client connections with fast reconnect, bucket cleanup, awaiting store events.
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import type { ControlPlaneMode, CacheEvent, KvMediationStore } from "../../src/controlplane/index.ts";

/** Reconnects forever and quickly, as a node should (the integrator sets the same options). */
export function connectNats(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50, timeout: 2000 });
}

let bucketNo = 0;
/** A bucket name unique in this process (tests share one server). */
export function freshBucket(prefix: string): string {
  return `${prefix}_${process.pid}_${++bucketNo}`;
}

/** Deletes the KV streams behind these buckets; ignores missing ones. */
export async function destroyBuckets(nc: NatsConnection, buckets: string[]): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const b of buckets) await jsm.streams.delete(`KV_${b}`).catch(() => false);
}

/** Resolves with the first cache event matching `pred` (subscribe before causing it). */
export function nextCacheEvent(store: KvMediationStore, pred: (e: CacheEvent) => boolean): Promise<CacheEvent> {
  return new Promise((resolve) => {
    const off = store.onCacheChange((e) => {
      if (!pred(e)) return;
      off();
      resolve(e);
    });
  });
}

/** Resolves when the store's mode becomes `mode` (subscribe before causing it). */
export function nextMode(store: { onModeChange(fn: (m: ControlPlaneMode) => void): () => void }, mode: ControlPlaneMode): Promise<void> {
  return new Promise((resolve) => {
    const off = store.onModeChange((m) => {
      if (m !== mode) return;
      off();
      resolve();
    });
  });
}

/** Resolves on the connection's next status event of `type`. */
export async function nextStatus(nc: NatsConnection, type: string): Promise<void> {
  for await (const s of nc.status()) if (s.type === type) return;
}
