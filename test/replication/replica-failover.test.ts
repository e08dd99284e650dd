// A PartitionReplica that is consuming when a NATS server dies (the one hosting its R1 ordered consumer, or the
// stream leader) must catch up to every record published before and after the kill, without the dead server coming
// back and without applying a record twice (the owner-side stall behind cluster scenario 4).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeRecord, ensureMailStream, mailSubject, PartitionReplica, resolveStreamOptions, type MailRecord } from "../../src/replication/index.ts";
import { startNatsCluster, type NatsCluster, type NatsServerHandle } from "../support/nats-cluster.ts";
import { natsConnect, record, waitFor } from "./helpers.ts";

const STREAM = "HAVEN_MAIL";
const BEFORE = 150;
const AFTER = 150;

let nats: NatsCluster;
beforeAll(async () => {
  nats = await startNatsCluster({ servers: 3 });
}, 60_000);
afterAll(async () => {
  await nats?.stop();
});

/** Publishes with its dedup id, retrying through a leader election (a retry of an acked publish is deduplicated). */
async function publish(nc: NatsConnection, rec: MailRecord): Promise<void> {
  const js = jetstream(nc, { timeout: 1000 });
  await waitFor(`record ${rec.id} published`, async () => {
    try {
      await js.publish(mailSubject(rec.partition), encodeRecord(rec), { msgID: rec.dedupId });
      return true;
    } catch {
      return false;
    }
  }, 30_000);
}

async function lastSeqOfSubject(jsm: JetStreamManager, partition: number): Promise<number> {
  return (await jsm.streams.getMessage(STREAM, { last_by_subj: mailSubject(partition) }))?.seq ?? 0;
}

/** The server hosting the replica's (only) consumer on the partition's subject, as its raft group reports. */
async function consumerHost(jsm: JetStreamManager, partition: number): Promise<NatsServerHandle> {
  const infos = (await jsm.consumers.list(STREAM).next()).filter((c) => c.config.filter_subject === mailSubject(partition));
  expect(infos.length).toBe(1);
  const leader = infos[0]!.cluster?.leader;
  const host = nats.servers.find((s) => s.name === leader);
  if (host === undefined) throw new Error(`consumer host ${String(leader)} unknown`);
  return host;
}

/**
 * Publishes BEFORE records, opens a replica and lets it catch up, kills `which` server, publishes AFTER more, and
 * asserts the replica applies every one exactly once without the dead server coming back.
 */
async function killWhileConsuming(which: "consumer host" | "stream leader", partition: number, idBase: number): Promise<void> {
  const pub = await natsConnect(nats.urls);
  const own = await natsConnect(nats.urls);
  const jsm = await jetstreamManager(pub, { timeout: 2000 });
  await waitFor("stream ensured", async () => {
    try {
      await ensureMailStream(jsm, resolveStreamOptions({ streamName: STREAM, replicas: 3 }));
      return true;
    } catch {
      return false; // meta leader election after an earlier kill
    }
  }, 30_000);
  const applied = new Map<string, number>();
  let applies = 0;
  const replica = new PartitionReplica(own, { streamName: STREAM, requestTimeoutMs: 1000, stallCheckIntervalMs: 250, stallTimeoutMs: 1000 });
  let victim: NatsServerHandle | null = null;
  const ids = Array.from({ length: BEFORE + AFTER }, (_, i) => idBase + i);
  try {
    for (const i of ids.slice(0, BEFORE)) await publish(pub, record(i, partition));
    await replica.open(partition, 1, {
      apply: async (rec, seq) => {
        applies++;
        applied.set(rec.id, seq);
      },
    });
    await replica.whenCaughtUp();
    expect(applied.size).toBe(BEFORE);

    const leader = await nats.streamLeader(STREAM);
    const host = await consumerHost(jsm, partition);
    victim = which === "stream leader" ? leader : host;
    if (victim === null) throw new Error("no stream leader known");
    console.log(`[${which}] stream leader ${leader?.name}, consumer on ${host.name}: killing ${victim.name}`);
    await victim.kill("SIGKILL");
    for (const i of ids.slice(BEFORE)) await publish(pub, record(i, partition));
    const target = await lastSeqOfSubject(jsm, partition);

    await waitFor("the replica applied every record", () => applied.size === ids.length && replica.status().appliedSeq >= target, 30_000).catch((e: unknown) => {
      const s = replica.status();
      throw new Error(`${String(e)}: applied ${applied.size}/${ids.length}, appliedSeq ${s.appliedSeq} vs subject last seq ${target}, consumerRestarts ${s.consumerRestarts}`);
    });
    const s = replica.status();
    console.log(`[${which}] caught up: appliedSeq=${s.appliedSeq} target=${target} consumerRestarts=${s.consumerRestarts}`);
    expect(s.failure).toBeNull();
    // A consumer on the dead server can only have been replaced by the watchdog.
    if (victim === host) expect(s.consumerRestarts).toBeGreaterThan(0);
    expect(applies).toBe(ids.length); // each record applied once: a reopened consumer resumes after the last one received
    for (const i of ids) expect(applied.has(`msg-${i}`)).toBe(true);
  } finally {
    await replica.close();
    await victim?.restart().catch(() => {});
    await nats.waitReady().catch(() => {});
    await pub.close();
    await own.close();
  }
}

describe("PartitionReplica across the death of a NATS server", () => {
  test("the server hosting the replica's consumer is killed: the replica catches up to every record", async () => {
    await killWhileConsuming("consumer host", 5, 0);
  }, 90_000);

  test("the stream leader is killed: the replica catches up to every record", async () => {
    await killWhileConsuming("stream leader", 6, 10_000);
  }, 90_000);
});
