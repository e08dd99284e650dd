// Lease writes on an R3 bucket of a 3-server cluster: of concurrent acquirers/renewers exactly one wins (and the old per-key path does not ensure it on < 2.9.21).
import { describe, expect, test } from "bun:test";
import { casModeFor } from "../../src/delivery/kv-breaker-store.ts";
import { encodeLease, LeaseConflictError, leaseKey, type NatsLeaseStore } from "../../src/membership/lease-store.ts";
import { useLeaseBuckets } from "./lease-bucket-harness.ts";

const ROUNDS = 40;
const STORES_PER_CONN = 2;

const buckets = useLeaseBuckets();
const conns = buckets.conns;
/** 6 stores (2 per server connection, each with its own write queue) on one fresh R3 bucket. */
const openStores = (cas: "auto" | "subject") => buckets.open("leasecas", { leaseTtlMs: 60_000, cas, perConn: STORES_PER_CONN });
const dropBucket = (bucket: string) => buckets.drop(bucket);

/** Outcome of one contended write by every store: how many succeeded; anything but a conflict fails the test. */
async function race(stores: NatsLeaseStore[], write: (s: NatsLeaseStore, i: number) => Promise<number>): Promise<number[]> {
  const results = await Promise.allSettled(stores.map(write));
  const won: number[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") won.push(r.value);
    else if (!(r.reason instanceof LeaseConflictError)) throw r.reason;
  }
  return won;
}

/** Rounds in which more than one acquirer / renewer won, plus the rounds' winners for a sanity check. */
async function contend(stores: NatsLeaseStore[]): Promise<{ doubleAcquires: number; doubleRenewals: number; acquired: number; renewed: number }> {
  const out = { doubleAcquires: 0, doubleRenewals: 0, acquired: 0, renewed: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const key = leaseKey(round);
    const acquired = await race(stores, (s, i) => s.create(key, encodeLease({ nodeId: `n${i}`, epoch: 0 }), 5000));
    if (acquired.length > 1) out.doubleAcquires++;
    out.acquired += acquired.length;
    // Everyone renews from the same (current) revision, as stale holders would.
    const current = await stores[0]!.get(key, 5000);
    expect(current).not.toBeNull();
    const renewed = await race(stores, (s, i) => s.update(key, encodeLease({ nodeId: `n${i}`, epoch: current!.revision }), current!.revision, 5000));
    if (renewed.length > 1) out.doubleRenewals++;
    out.renewed += renewed.length;
  }
  return out;
}

describe("lease CAS on a replicated bucket (3 servers, R3)", () => {
  test("concurrent acquirers and renewers of one partition: exactly one wins, every round", async () => {
    const { bucket, stores } = await openStores("auto");
    try {
      const version = conns[0]!.info?.version;
      console.log(`nats-server ${version}: lease cas mode ${stores[0]!.casMode}`);
      expect(stores[0]!.casMode).toBe(casModeFor(version));
      const r = await contend(stores);
      console.log(`auto mode: ${JSON.stringify(r)}; store 0 stats ${JSON.stringify(stores[0]!.cas.stats)}`);
      expect(r.doubleAcquires).toBe(0);
      expect(r.doubleRenewals).toBe(0);
      // Nothing else writes the key in a round, so some write is ordered first and wins: exactly one each.
      expect(r.acquired).toBe(ROUNDS);
      expect(r.renewed).toBe(ROUNDS);
      // A stale revision never renews, a create on a held key conflicts, and a delete needs the current revision.
      const cur = (await stores[1]!.get(leaseKey(0), 5000))!;
      await expect(stores[2]!.update(leaseKey(0), encodeLease({ nodeId: "x", epoch: 1 }), cur.revision - 1, 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      await expect(stores[3]!.create(leaseKey(0), encodeLease({ nodeId: "x", epoch: 0 }), 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      await expect(stores[4]!.delete(leaseKey(0), cur.revision - 1, 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      await stores[5]!.delete(leaseKey(0), cur.revision, 5000);
      expect(await stores[0]!.get(leaseKey(0), 5000)).toBeNull();
      // After a delete the key can be acquired again, by one store only.
      const again = await race(stores, (s, i) => s.create(leaseKey(0), encodeLease({ nodeId: `n${i}`, epoch: 0 }), 5000));
      expect(again.length).toBe(1);
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);

  // Shows why the stream mode exists: on servers before 2.9.21 the KV client's per-key CAS (the previous
  // implementation) lets several writers win. On a fixed server this only checks the path still works.
  test("the per-key (subject) path gives a partition to several nodes on nats-server < 2.9.21", async () => {
    const { bucket, stores } = await openStores("subject");
    try {
      const buggy = casModeFor(conns[0]!.info?.version) === "stream";
      const r = await contend(stores);
      console.log(`subject mode (server buggy: ${buggy}): ${JSON.stringify(r)}`);
      if (buggy) expect(r.doubleAcquires + r.doubleRenewals).toBeGreaterThan(0);
      else expect(r.doubleAcquires + r.doubleRenewals).toBe(0);
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);
});
