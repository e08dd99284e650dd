// Several nodes opening the same buckets at the same moment on a 3-server JetStream cluster (the start-up race).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { KvMediationStore, KvReplayGuard } from "../../src/controlplane/index.ts";
import { openNatsLeaseStore } from "../../src/membership/lease-store.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";

let nats: NatsCluster;
let ncs: NatsConnection[] = [];

beforeAll(async () => {
  nats = await startNatsCluster({ servers: 3 });
  ncs = await Promise.all(nats.urls.map((url) => connect({ servers: [url] })));
}, 30_000);

afterAll(async () => {
  await Promise.all(ncs.map((nc) => nc.close()));
  await nats?.stop();
});

describe("concurrent bucket creation", () => {
  // Before the fix, 1 in ~3 rounds had a loser time out: STREAM.INFO/CREATE are dropped while the new
  // stream's raft group elects its leader. No retries are involved now, so every open must succeed at once.
  test("three nodes create the mediation, replay and lease buckets at once, without retries", async () => {
    for (let round = 0; round < 4; round++) {
      const opened = await Promise.all(
        ncs.flatMap((nc) => [
          KvMediationStore.open(nc, { bucket: `med_${round}`, replicas: 3, maxBucketBytes: 2 ** 20 }),
          KvReplayGuard.open(nc, { bucket: `rep_${round}`, replicas: 3, windowMs: 60_000, maxBucketBytes: 2 ** 20 }),
          openNatsLeaseStore(nc, { bucket: `lease_${round}`, leaseTtlMs: 1500, replicas: 3 }),
        ]),
      );
      // They all see the one bucket: a create on one node is a conflict on another.
      const leaseStores = opened.filter((_, i) => i % 3 === 2) as Awaited<ReturnType<typeof openNatsLeaseStore>>[];
      await leaseStores[0]!.create("p.1", new Uint8Array([1]), 5000);
      await expect(leaseStores[1]!.create("p.1", new Uint8Array([2]), 5000)).rejects.toThrow("conflict");
      for (const s of opened) await (s as { close?: () => Promise<void> }).close?.();
    }
  }, 60_000);
});

describe("lease bucket TTL on adopt", () => {
  // A lease bucket left with a shorter TTL than LEASE_TTL_MS (or none) is raised to it: keys must not expire while
  // their holders still serve. A longer TTL is kept (it never shortens a lease).
  test("shorter or missing TTL is raised to leaseTtlMs; a longer one is kept", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const { openKvBucket } = await import("../../src/controlplane/kv-bucket.ts");
    const jsm = await jetstreamManager(ncs[0]!);
    const maxAgeMs = async (bucket: string) => (await jsm.streams.info(`KV_${bucket}`)).config.max_age / 1_000_000;
    for (const [bucket, existingTtlMs, expectedMs] of [
      ["lease_short", 500, 1500],
      ["lease_none", 0, 1500],
      ["lease_long", 4000, 4000],
    ] as const) {
      await openKvBucket(ncs[1]!, { bucket, history: 1, replicas: 3, ttlMs: existingTtlMs }, { callTimeoutMs: 5000 });
      expect(await maxAgeMs(bucket)).toBe(existingTtlMs);
      const store = await openNatsLeaseStore(ncs[2]!, { bucket, leaseTtlMs: 1500, replicas: 3 });
      expect(await maxAgeMs(bucket)).toBe(expectedMs);
      await store.create("p.1", new Uint8Array([1]), 5000); // still a working bucket after the update
    }
  }, 60_000);
});
