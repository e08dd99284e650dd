// NatsLeaseStore.createMany (a chain of stream-level CAS creates) on an R3 bucket (3 servers), racing other chains and single creates: never two winners per key.
import { describe, expect, test } from "bun:test";
import { decodeLease, encodeLease, LeaseConflictError, LeaseTimeoutError, leaseKey, type NatsLeaseStore } from "../../src/membership/lease-store.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { useLeaseBuckets } from "./lease-bucket-harness.ts";

const buckets = useLeaseBuckets();
/** One store per server connection on a fresh R3 bucket (stream-level CAS: the server is 2.9.x). */
const openStores = () => buckets.open("leasechain", { leaseTtlMs: 60_000, cas: "stream" });
const dropBucket = (bucket: string) => buckets.drop(bucket);

/** The project's seeded PRNG as a plain function: the races replay with SEED=... */
function rng(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r.next();
}

const entry = (p: number, node: string) => ({ key: leaseKey(p), value: encodeLease({ nodeId: node, epoch: 0 }) });

describe("lease create chain (stream-level CAS) on a replicated bucket", () => {
  test("creates the free keys in order, skips held ones, takes deleted ones; revisions are the keys' revisions", async () => {
    const { bucket, stores } = await openStores();
    const [a, other] = [stores[0]!, stores[1]!];
    try {
      expect(a.casMode).toBe("stream");
      const held = await other.create(leaseKey(2), encodeLease({ nodeId: "o", epoch: 0 }), 5000);
      const gone = await other.create(leaseKey(3), encodeLease({ nodeId: "o", epoch: 0 }), 5000);
      await other.delete(leaseKey(3), gone, 5000);
      const events: string[] = [];
      const r = await a.createMany(
        [1, 2, 3, 4].map((p) => entry(p, "a")),
        10_000,
        (key) => events.push(`send ${key}`),
        (key, rev) => events.push(`created ${key} ${rev}`),
      );
      expect(r.error).toBeNull();
      expect([...r.created.keys()]).toEqual([leaseKey(1), leaseKey(3), leaseKey(4)]);
      // Each create is announced before it is sent and acknowledged before the next one is sent.
      expect(events.map((e) => e.split(" ").slice(0, 2).join(" "))).toEqual(["send p.1", "created p.1", "send p.3", "created p.3", "send p.4", "created p.4"]);
      for (const [key, rev] of r.created) {
        const cur = await other.get(key, 5000);
        expect(cur?.revision).toBe(rev);
        expect(decodeLease(cur!.value, cur!.revision)?.nodeId).toBe("a");
      }
      expect((await other.get(leaseKey(2), 5000))?.revision).toBe(held); // never overwritten
      // A second chain over the same keys creates nothing: all are held now.
      const again = await other.createMany([1, 2, 3, 4].map((p) => entry(p, "o")), 10_000, () => {}, () => {});
      expect(again.created.size).toBe(0);
      expect(again.error).toBeNull();
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);

  test("chains racing chains and single creates on the same keys: at most one winner per key, and it holds the key (seeded)", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000_007);
    console.log(`lease create chain race SEED=${seed}`);
    const random = rng(seed);
    const { bucket, stores } = await openStores();
    try {
      const KEYS = 6;
      let contested = 0;
      for (let round = 0; round < 12; round++) {
        const parts = Array.from({ length: KEYS }, (_, i) => 1000 + round * KEYS + i);
        // Some keys are held beforehand, some were held and deleted: only free ones may be won.
        const heldBefore = new Set<number>();
        for (const p of parts) {
          const x = random();
          if (x < 0.2) {
            await stores[2]!.create(leaseKey(p), encodeLease({ nodeId: "pre", epoch: 0 }), 5000);
            heldBefore.add(p);
          } else if (x < 0.4) {
            const r = await stores[2]!.create(leaseKey(p), encodeLease({ nodeId: "pre", epoch: 0 }), 5000);
            await stores[2]!.delete(leaseKey(p), r, 5000);
          }
        }
        const order = (xs: number[]) => [...xs].sort(() => random() - 0.5);
        const wins = new Map<number, string[]>();
        const won = (p: number, node: string) => wins.set(p, [...(wins.get(p) ?? []), node]);
        const chain = async (s: NatsLeaseStore, node: string) => {
          const r = await s.createMany(order(parts).map((p) => entry(p, node)), 20_000, () => {}, () => {});
          if (r.error !== null && !(r.error instanceof LeaseConflictError) && !(r.error instanceof LeaseTimeoutError)) throw r.error;
          for (const key of r.created.keys()) won(Number(key.slice(2)), node);
        };
        const singles = async (s: NatsLeaseStore, node: string) => {
          for (const p of order(parts)) {
            try {
              await s.create(leaseKey(p), encodeLease({ nodeId: node, epoch: 0 }), 5000);
              won(p, node);
            } catch (e) {
              if (!(e instanceof LeaseConflictError) && !(e instanceof LeaseTimeoutError)) throw e;
            }
          }
        };
        await Promise.all([chain(stores[0]!, "c0"), chain(stores[1]!, "c1"), singles(stores[2]!, "s2")]);
        for (const p of parts) {
          const winners = wins.get(p) ?? [];
          if (heldBefore.has(p)) {
            expect(winners).toEqual([]);
            continue;
          }
          expect(winners.length).toBeLessThanOrEqual(1);
          const cur = await stores[0]!.get(leaseKey(p), 5000);
          if (winners.length === 1) expect(decodeLease(cur!.value, cur!.revision)?.nodeId).toBe(winners[0]!);
          else expect(cur).toBeNull(); // nobody won (contention beyond the attempts): nobody holds it either
          if (winners.length === 1) contested++;
        }
      }
      expect(contested).toBeGreaterThan(0); // the race did create keys, so the check above was exercised
    } finally {
      await dropBucket(bucket);
    }
  }, 180_000);
});
