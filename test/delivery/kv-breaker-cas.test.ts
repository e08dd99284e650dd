// KvBreakerStore on a 3-server JetStream cluster (R3 bucket): of concurrent writes from one revision exactly one wins, whatever the server version.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { initialRecord, KvBreakerStore, type BreakerRecord } from "../../src/delivery/index.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { connectNats, destroyBucket, freshBucket } from "./helpers.ts";

const ROUNDS = 30;
const WRITERS_PER_CONN = 2;
const DEST = "https://hooks.example.com:443";
const OTHER = "https://other.example.com:443";

let nats: NatsCluster;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  nats = await startNatsCluster({ servers: 3 });
  for (const url of nats.urls) conns.push(await connectNats(url));
}, 60_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await nats?.stop();
});

/** Opening an R3 bucket right after the cluster formed can fail until JetStream has a meta leader. */
async function openStore(nc: NatsConnection, bucket: string): Promise<KvBreakerStore> {
  for (let i = 0; ; i++) {
    try {
      return await KvBreakerStore.open(nc, { bucket, replicas: 3, timeoutMs: 5000 });
    } catch (e) {
      if (i >= 60) throw e;
      await Bun.sleep(250); // waiting for the cluster to elect a meta leader, not standing in for an event
    }
  }
}

describe("KvBreakerStore CAS on a clustered bucket", () => {
  test("concurrent updates from the same revision: never more than one wins; a write to another destination does not get lost either", async () => {
    const bucket = freshBucket("cas");
    const stores: KvBreakerStore[] = [];
    for (const nc of conns) stores.push(await openStore(nc, bucket));
    try {
      console.log(`cas mode: ${stores[0]!.casMode}`);
      expect(await stores[0]!.create(DEST, initialRecord())).not.toBeNull();
      let wins = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const base = await stores[0]!.get(DEST);
        expect(base).not.toBeNull();
        const writes = stores.flatMap((s, i) =>
          Array.from({ length: WRITERS_PER_CONN }, (_, j) => {
            const record: BreakerRecord = { ...base!.record, nextSeq: base!.record.nextSeq + 1 + i * WRITERS_PER_CONN + j };
            return s.update(DEST, record, base!.revision);
          }),
        );
        const won = (await Promise.all(writes)).filter((r) => r !== null).length;
        expect(won).toBeLessThanOrEqual(1);
        wins += won;
      }
      // Not a timing condition: with nothing else writing, the round's first write to be ordered wins.
      expect(wins).toBeGreaterThan(ROUNDS / 2);

      // A write to another destination makes a revision read before it stale (stream mode) or leaves it valid
      // (subject mode); either way a re-read and write succeeds, and the other record is intact.
      const before = (await stores[1]!.get(DEST))!;
      expect(await stores[2]!.create(OTHER, initialRecord())).not.toBeNull();
      const retried = (await stores[1]!.update(DEST, before.record, before.revision)) ?? (await stores[1]!.update(DEST, before.record, (await stores[1]!.get(DEST))!.revision));
      expect(retried).not.toBeNull();
      expect((await stores[0]!.get(OTHER))!.record).toEqual(initialRecord());
      // A create of an existing record is a conflict, not an overwrite.
      expect(await stores[0]!.create(OTHER, { ...initialRecord(), nextSeq: 99 })).toBeNull();
    } finally {
      await destroyBucket(conns[0]!, bucket);
    }
  }, 120_000);
});
