// Shared by the lease-store tests on a real 3-server NATS cluster: one connection per server and fresh R3 lease buckets.
import { afterAll, beforeAll } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { retryStartup } from "../../src/node/startup-retry.ts";
import { openNatsLeaseStore, type NatsLeaseStore } from "../../src/membership/lease-store.ts";

export interface LeaseBuckets {
  /** One connection per server, in server order (filled in beforeAll). */
  readonly conns: NatsConnection[];
  /** `perConn` stores per server connection on one fresh R3 bucket; the bucket name starts with `prefix`. */
  open(prefix: string, opts: { leaseTtlMs: number; cas?: "auto" | "stream" | "subject"; perConn?: number }): Promise<{ bucket: string; stores: NatsLeaseStore[] }>;
  drop(bucket: string): Promise<void>;
}

/** Starts the cluster for the calling test file (beforeAll/afterAll) and opens buckets on it. */
export function useLeaseBuckets(): LeaseBuckets {
  let nats: NatsCluster | undefined;
  const conns: NatsConnection[] = [];
  let bucketNo = 0;
  beforeAll(async () => {
    nats = await startNatsCluster({ servers: 3 });
    for (const url of nats.urls) conns.push(await connect({ servers: url, reconnectTimeWait: 50, timeout: 2000 }));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await nats?.stop();
  });
  return {
    conns,
    async open(prefix, opts) {
      const bucket = `${prefix}_${process.pid}_${++bucketNo}`;
      const stores: NatsLeaseStore[] = [];
      for (const nc of conns) {
        for (let i = 0; i < (opts.perConn ?? 1); i++) {
          stores.push(await openRetrying(() => openNatsLeaseStore(nc, { bucket, leaseTtlMs: opts.leaseTtlMs, replicas: 3, ...(opts.cas ? { cas: opts.cas } : {}) })));
        }
      }
      return { bucket, stores };
    },
    async drop(bucket) {
      await (await jetstreamManager(conns[0]!)).streams.delete(`KV_${bucket}`).catch(() => false);
    },
  };
}

/** Creating an R3 bucket right after the cluster started can time out while JetStream settles: retried, like a node's start-up. */
function openRetrying(open: () => Promise<NatsLeaseStore>): Promise<NatsLeaseStore> {
  return retryStartup("open the lease bucket", open, { clock: systemClock, log: createLogger({ level: "silent" }), deadlineMs: 45_000 });
}
