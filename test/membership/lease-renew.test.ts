// The holder's renewal path (NatsLeaseStore.renew, a per-key CAS) against creates by other nodes on an R3 bucket (3 servers): never two winners.
import { describe, expect, test } from "bun:test";
import { encodeLease, LeaseConflictError, LeaseTimeoutError, leaseKey, type NatsLeaseStore } from "../../src/membership/lease-store.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { useLeaseBuckets } from "./lease-bucket-harness.ts";

/** Short, so rounds can race a renewal against the key's expiry. The bucket TTL has 100 ms granularity at most. */
const TTL_MS = 1000;
const EXPIRY_ROUNDS = 16;

const buckets = useLeaseBuckets();
const openStores = (ttlMs: number) => buckets.open("leaserenew", { leaseTtlMs: ttlMs });
const dropBucket = (bucket: string) => buckets.drop(bucket);

/** The project's seeded PRNG as a plain function: the races replay with SEED=... */
function rng(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r.next();
}

/** Settles every write; a conflict is a "lost", anything but a conflict or a timeout fails the test. */
async function outcomes(writes: Promise<number>[]): Promise<(number | null)[]> {
  const results = await Promise.allSettled(writes);
  return results.map((r) => {
    if (r.status === "fulfilled") return r.value;
    if (r.reason instanceof LeaseConflictError || r.reason instanceof LeaseTimeoutError) return null;
    throw r.reason;
  });
}

describe("lease renewal (per-key CAS by the holder) on a replicated bucket", () => {
  test("the holder renews; a stale, deleted or taken-over revision never renews", async () => {
    const { bucket, stores } = await openStores(60_000);
    const [holder, other] = [stores[0]!, stores[1]!];
    try {
      const key = leaseKey(1);
      const r1 = await holder.create(key, encodeLease({ nodeId: "h", epoch: 0 }), 5000);
      const r2 = await holder.renew(key, encodeLease({ nodeId: "h", epoch: r1 }), r1, 5000);
      expect(r2).toBeGreaterThan(r1);
      expect((await other.get(key, 5000))?.revision).toBe(r2);
      // The revision it replaced is stale now.
      await expect(holder.renew(key, encodeLease({ nodeId: "h", epoch: r1 }), r1, 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      // Released (deleted): the old revision does not bring it back.
      await holder.delete(key, r2, 5000);
      await expect(holder.renew(key, encodeLease({ nodeId: "h", epoch: r1 }), r2, 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      expect(await other.get(key, 5000)).toBeNull();
      // Taken by another node: the old holder's renewal is refused, the new holder's goes through.
      const o1 = await other.create(key, encodeLease({ nodeId: "o", epoch: 0 }), 5000);
      await expect(holder.renew(key, encodeLease({ nodeId: "h", epoch: r1 }), r2, 5000)).rejects.toBeInstanceOf(LeaseConflictError);
      expect(await other.renew(key, encodeLease({ nodeId: "o", epoch: o1 }), o1, 5000)).toBeGreaterThan(o1);
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);

  test("a renewal racing creates by every other node: exactly one write wins, every round", async () => {
    const { bucket, stores } = await openStores(60_000);
    try {
      let renewalsWon = 0;
      for (let round = 0; round < 20; round++) {
        const key = leaseKey(100 + round);
        const r = await stores[0]!.create(key, encodeLease({ nodeId: "h", epoch: 0 }), 5000);
        // Odd rounds: released first, so the renewal is stale and the creates may win; even rounds: still held.
        if (round % 2 === 1) await stores[0]!.delete(key, r, 5000);
        const won = (
          await outcomes([
            stores[0]!.renew(key, encodeLease({ nodeId: "h", epoch: r }), r, 5000),
            ...stores.slice(1).map((s, i) => s.create(key, encodeLease({ nodeId: `o${i}`, epoch: 0 }), 5000)),
          ])
        ).map((v) => v !== null);
        expect(won.filter(Boolean).length).toBe(1);
        expect(won[0]).toBe(round % 2 === 0); // held: the holder renews; released: one of the others acquires
        if (won[0]) renewalsWon++;
      }
      expect(renewalsWon).toBe(10);
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);

  test("a renewal racing the key's expiry and creates by the other nodes: never two winners (seeded)", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000_007);
    console.log(`lease renewal expiry race SEED=${seed}`);
    const random = rng(seed);
    const { bucket, stores } = await openStores(TTL_MS);
    try {
      const tally = { renewed: 0, acquired: 0, none: 0 };
      for (let round = 0; round < EXPIRY_ROUNDS; round++) {
        const key = leaseKey(200 + round);
        const r = await stores[0]!.create(key, encodeLease({ nodeId: "h", epoch: 0 }), 5000);
        const createdAtMs = performance.now();
        // Late renewal: somewhere around the expiry (-150 .. +150 ms), while the others poll for the key to expire.
        const renewAtMs = createdAtMs + TTL_MS - 150 + random() * 300;
        const renewal = (async () => {
          await Bun.sleep(Math.max(0, renewAtMs - performance.now()));
          return stores[0]!.renew(key, encodeLease({ nodeId: "h", epoch: r }), r, 2000);
        })();
        const acquirers = stores.slice(1).map(async (s, i) => {
          // Each acquirer tries until it wins, or until the key is clearly held by someone else after the race.
          const untilMs = createdAtMs + TTL_MS + 800; // before a renewal made at the earliest (-150 ms) could expire
          while (performance.now() < untilMs) {
            try {
              return await s.create(key, encodeLease({ nodeId: `o${i}`, epoch: 0 }), 2000);
            } catch (e) {
              if (!(e instanceof LeaseConflictError) && !(e instanceof LeaseTimeoutError)) throw e;
            }
            await Bun.sleep(10 + random() * 20); // polling the key between attempts, as acquirers do
          }
          throw new LeaseConflictError("never acquired");
        });
        const won = await outcomes([renewal, ...acquirers]);
        const winners = won.filter((v) => v !== null);
        expect(winners.length).toBeLessThanOrEqual(1);
        if (won[0] !== null) tally.renewed++;
        else if (winners.length === 1) tally.acquired++;
        else tally.none++;
        // Whoever won is the key's current holder.
        if (winners.length === 1) expect((await stores[1]!.get(key, 5000))?.revision).toBe(winners[0]!);
      }
      console.log(`expiry race: ${JSON.stringify(tally)}`);
      // Each round has a winner: the renewal before the expiry, else an acquirer after it.
      expect(tally.none).toBe(0);
    } finally {
      await dropBucket(bucket);
    }
  }, 120_000);
});
