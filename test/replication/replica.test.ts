// PartitionReplica against a real nats-server: rebuild in stream order into an idempotent sink, caughtUp,
// live tail, confirm deletes from the stream, tombstones for re-published confirmed records.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { PartitionReplica, ReplicatedJournal, Tombstones, type MailRecord, type ReplicaSink } from "../../src/replication/index.ts";
import { createMemoryDriver, type StorageDriver } from "../../src/storage/index.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { natsConnect, record, tempDir, waitFor } from "./helpers.ts";

let nats: NatsCluster;
const cleanups: (() => Promise<void> | void)[] = [];
let streamNo = 0;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Sink backed by a real StorageDriver: dedupKey = dedupId makes apply idempotent. Records the call order. */
function storageSink(storage: StorageDriver): ReplicaSink & { calls: { id: string; seq: number }[]; stored: number; dupes: number } {
  const sink = {
    calls: [] as { id: string; seq: number }[],
    stored: 0,
    dupes: 0,
    async apply(rec: MailRecord, seq: number) {
      sink.calls.push({ id: rec.id, seq });
      const r = await storage.messages.enqueue(
        {
          id: rec.id,
          mailbox: rec.mailbox,
          recipientDid: rec.recipientDid,
          payload: rec.payload,
          receivedAtMs: rec.receivedAtMs,
          expiresAtMs: rec.expiresAtMs,
          dedupKey: rec.dedupId,
        },
        { maxCount: 1_000_000, maxBytes: 1 << 30 },
      );
      if (r.status === "stored") sink.stored++;
      else if (r.status === "duplicate") sink.dupes++;
    },
  };
  return sink;
}

async function setup() {
  const nc = await natsConnect(nats.url);
  const t = tempDir();
  const streamName = `MAIL_R${++streamNo}`;
  const journal = await ReplicatedJournal.open({ nc, journalPath: join(t.dir, "j.sqlite"), streamName, replicas: 1 });
  const jsm = await jetstreamManager(nc);
  cleanups.push(
    () => t.cleanup(),
    () => nc.close(),
    () => jsm.streams.delete(streamName).then(() => {}, () => {}),
    () => journal.close(),
  );
  const openReplica = async (partition: number, sink: ReplicaSink, epoch = 1, tombstones?: Tombstones) => {
    const r = await PartitionReplica.open({ nc, streamName, maxApplyInFlight: 8, tombstones }, partition, epoch, sink);
    cleanups.push(() => r.close());
    return r;
  };
  return { nc, journal, jsm, streamName, openReplica };
}

describe("PartitionReplica (single nats-server)", () => {
  test("rebuilds its partition in stream order, reports caughtUp, and a second rebuild is idempotent", async () => {
    const { journal, openReplica } = await setup();
    const recs = Array.from({ length: 300 }, (_, i) => record(i, i % 3));
    for (const r of recs) expect(await journal.accept(r)).toBe("replicated");
    const storage = createMemoryDriver();
    const sink = storageSink(storage);
    const replica = await openReplica(1, sink);
    await replica.whenCaughtUp();
    expect(replica.caughtUp).toBe(true);
    const expected = recs.filter((r) => r.partition === 1).map((r) => r.id);
    expect(sink.calls.map((c) => c.id)).toEqual(expected);
    const seqs = sink.calls.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(sink.stored).toBe(100);
    expect(replica.status().appliedSeq).toBe(seqs[seqs.length - 1]!);
    await replica.close();

    // A new owner (or a restart) replays everything again: the sink ignores the duplicates.
    const again = await openReplica(1, sink, 2);
    await again.whenCaughtUp();
    expect(sink.stored).toBe(100);
    expect(sink.dupes).toBe(100);
    const stats = await storage.messages.stats("did:example:mailbox-1");
    expect(stats.count).toBe(100);
  });

  test("an empty partition is caught up at once; the live tail keeps applying", async () => {
    const { journal, openReplica } = await setup();
    const sink = storageSink(createMemoryDriver());
    const replica = await openReplica(9, sink);
    expect(replica.caughtUp).toBe(true);
    for (let i = 0; i < 20; i++) await journal.accept(record(i, 9));
    await journal.accept(record(99, 8)); // other partition: not ours
    await waitFor("live records applied", () => sink.calls.length === 20);
    expect(sink.calls.map((c) => c.id)).toEqual(Array.from({ length: 20 }, (_, i) => `msg-${i}`));
  });

  test("confirm deletes from the stream; a later rebuild no longer sees them", async () => {
    const { journal, jsm, streamName, openReplica } = await setup();
    for (let i = 0; i < 10; i++) await journal.accept(record(i, 2));
    const sink = storageSink(createMemoryDriver());
    const replica = await openReplica(2, sink);
    await replica.whenCaughtUp();
    const confirmed = sink.calls.slice(0, 4).map((c) => c.seq);
    expect(await replica.confirm(confirmed)).toBe(4);
    expect(await replica.confirm(confirmed)).toBe(4); // already deleted: still fine
    for (const seq of confirmed) expect(await jsm.streams.getMessage(streamName, { seq })).toBeNull();
    // 6 records left, plus the one confirmation marker naming the 4 confirmed dedup ids.
    expect((await jsm.streams.info(streamName)).state.messages).toBe(7);
    expect(replica.status()).toMatchObject({ markersPublished: 1, markerFailures: 0 });

    const fresh = storageSink(createMemoryDriver());
    const rebuilt = await openReplica(2, fresh, 2);
    await rebuilt.whenCaughtUp();
    expect(fresh.calls.map((c) => c.id)).toEqual(["msg-4", "msg-5", "msg-6", "msg-7", "msg-8", "msg-9"]);
  });

  test("stream recreated: the replica fails (retryable); a reopened one drops confirmed re-published records", async () => {
    const { journal, jsm, streamName, openReplica } = await setup();
    await journal.accept(record(1, 5));
    await journal.accept(record(2, 5));
    const tombstones = new Tombstones(60_000, 1000, 1000);
    const sink = storageSink(createMemoryDriver());
    const replica = await openReplica(5, sink, 1, tombstones);
    await replica.whenCaughtUp();
    await replica.confirm([sink.calls[0]!.seq]); // msg-1 confirmed by the recipient
    // A NATS-wide loss: the stream comes back empty; the journal re-publishes what it retained.
    const info = await jsm.streams.info(streamName);
    await jsm.streams.delete(streamName);
    await jsm.streams.add(info.config);
    await journal.checkStream();
    await waitFor("re-published", async () => (await jsm.streams.info(streamName)).state.messages === 2);
    await waitFor("old replica failed", () => replica.status().failure !== null);
    expect(replica.status().failure).toMatchObject({ code: "nats_unavailable", retryable: true });

    const rebuilt = await openReplica(5, sink, 2, tombstones);
    await rebuilt.whenCaughtUp();
    expect(rebuilt.status().skippedConfirmed).toBe(1);
    expect(sink.calls.map((c) => c.id)).toEqual(["msg-1", "msg-2", "msg-2"]); // msg-2 again: deduplicated by the sink
    expect(sink.stored).toBe(2);
    await waitFor("ghost deleted", async () => (await jsm.streams.info(streamName)).state.messages === 1);
  });

  // The confirming owner's tombstones die with it. A copy of a confirmed record re-published later (a journal
  // relaying after its PubAck was lost, past what JetStream still deduplicates) must not reach the next owner's
  // mailbox: the confirmation marker in the stream tells every later replica, which drops the copy.
  test("a new owner (fresh tombstones) skips a confirmed record re-published later: the marker travels in the stream", async () => {
    const { nc, journal, jsm, streamName, openReplica } = await setup();
    await journal.accept(record(1, 6));
    await journal.accept(record(2, 6));
    const first = storageSink(createMemoryDriver());
    const owner = await openReplica(6, first, 1, new Tombstones(60_000, 1000, 1000));
    await owner.whenCaughtUp();
    await owner.confirm([first.calls[0]!.seq]); // msg-1 confirmed
    await owner.close();
    // The copy, published without its Nats-Msg-Id so JetStream cannot drop it (as after a leader change that lost
    // the duplicate window's state for deleted messages).
    const { jetstream } = await import("@nats-io/jetstream");
    const { encodeRecord } = await import("../../src/replication/record.ts");
    await jetstream(nc).publish("haven.mail.6", encodeRecord(record(1, 6)));

    const next = storageSink(createMemoryDriver());
    const newOwner = await openReplica(6, next, 2, new Tombstones(60_000, 1000, 1000));
    await newOwner.whenCaughtUp();
    expect(next.calls.map((c) => c.id)).toEqual(["msg-2"]);
    expect(newOwner.status().skippedConfirmed).toBe(1);
    // The copy is deleted again; msg-2 and the marker remain until the owner prunes old markers.
    await waitFor("copy deleted", async () => (await jsm.streams.info(streamName)).state.messages === 2);
    expect(await newOwner.pruneMarkers(Date.now(), 60_000)).toBe(0); // younger than the bound: kept
    expect(await newOwner.pruneMarkers(Date.now() + 120_000, 60_000)).toBe(1);
    expect((await jsm.streams.info(streamName)).state.messages).toBe(1);
    expect(newOwner.status().markersPruned).toBe(1);
  });

  test("a failing sink stops the replica with a typed retryable error", async () => {
    const { journal, openReplica } = await setup();
    await journal.accept(record(1, 3));
    await journal.accept(record(2, 3));
    const replica = await openReplica(3, {
      apply: async () => {
        throw new Error("disk full");
      },
    });
    await expect(replica.whenCaughtUp()).rejects.toMatchObject({ code: "sink_failed", retryable: true });
    expect(replica.status().failure?.code).toBe("sink_failed");
  });

  test("argument bounds", async () => {
    const { nc, streamName } = await setup();
    const r = new PartitionReplica(nc, { streamName });
    await expect(r.open(-1, 1, { apply: async () => {} })).rejects.toMatchObject({ code: "invalid_argument" });
    const ok = await PartitionReplica.open({ nc, streamName }, 1, 1, { apply: async () => {} });
    cleanups.push(() => ok.close());
    await expect(ok.confirm([0])).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(ok.confirm(Array.from({ length: 1001 }, (_, i) => i + 1))).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
