// ReplicatedJournal against a real single nats-server: replicate, dedup, outbox while NATS is down, relay
// exactly once on return, re-publish after the stream is wiped, and load shedding.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ReplicatedJournal, type ReplicatedJournalOptions } from "../../src/replication/index.ts";
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

async function setup(extra: Partial<ReplicatedJournalOptions> = {}) {
  const nc = await natsConnect(nats.url);
  const t = tempDir();
  const streamName = `MAIL_J${++streamNo}`;
  const options: ReplicatedJournalOptions = {
    nc,
    journalPath: join(t.dir, "journal.sqlite"),
    streamName,
    replicas: 1,
    publishTimeoutMs: 500,
    relayBackoffMinMs: 20,
    relayBackoffMaxMs: 200,
    streamCheckIntervalMs: 200,
    ...extra,
  };
  const journal = await ReplicatedJournal.open(options);
  cleanups.push(() => t.cleanup(), () => nc.close(), () => journal.close());
  const jsm = await jetstreamManager(nc);
  // Streams share the haven.mail.* subjects, so each test removes its own.
  cleanups.push(() => jsm.streams.delete(streamName).then(() => {}, () => {}));
  const count = async () => (await jsm.streams.info(streamName)).state.messages;
  return { nc, journal, jsm, streamName, options, count };
}

describe("ReplicatedJournal (single nats-server)", () => {
  test("accept replicates with Nats-Msg-Id and the record on haven.mail.<partition>", async () => {
    const { journal, jsm, streamName, count } = await setup();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => journal.accept(record(i, 7))));
    expect(new Set(results)).toEqual(new Set(["replicated"]));
    expect(await count()).toBe(200);
    const m = await jsm.streams.getMessage(streamName, { seq: 1 });
    expect(m?.subject).toBe("haven.mail.7");
    expect(m?.header.get("Nats-Msg-Id")).toBe("dedup-0");
    expect(journal.status()).toMatchObject({ outboxSize: 0, degraded: false, replicated: 200 });
  });

  test("the same dedupId is stored once", async () => {
    const { journal, count } = await setup();
    for (let k = 0; k < 3; k++) expect(await journal.accept(record(1))).toBe("replicated");
    await Promise.all([journal.accept(record(2)), journal.accept(record(2))]);
    expect(await count()).toBe(2);
  });

  test("NATS killed -> journaled -> restarted -> relayed exactly once", async () => {
    const { journal, count } = await setup();
    for (let i = 0; i < 20; i++) expect(await journal.accept(record(i))).toBe("replicated");
    await nats.servers[0]!.kill("SIGKILL");
    const during = await Promise.all(Array.from({ length: 30 }, (_, i) => journal.accept(record(100 + i))));
    expect(new Set(during)).toEqual(new Set(["journaled"]));
    expect(journal.status()).toMatchObject({ degraded: true, outboxSize: 30 });
    await nats.servers[0]!.restart();
    await waitFor("outbox drained", () => journal.status().outboxSize === 0 && !journal.status().degraded);
    // SIGKILL may also have dropped un-fsynced replicated messages: the stream check re-publishes them.
    await journal.checkStream();
    await waitFor("all 50 in the stream", async () => (await count()) === 50);
    expect(await count()).toBe(50);
    expect(journal.status().relayed).toBe(30);
    // Back to direct publishing.
    expect(await journal.accept(record(500))).toBe("replicated");
    expect(await count()).toBe(51);
  }, 60_000);

  test("outbox survives a journal restart and is relayed by the next open", async () => {
    const first = await setup();
    await nats.servers[0]!.stop();
    for (let i = 0; i < 5; i++) expect(await first.journal.accept(record(i))).toBe("journaled");
    await first.journal.close();
    await nats.servers[0]!.restart();
    const nc = await natsConnect(nats.url);
    cleanups.push(() => nc.close());
    const second = await ReplicatedJournal.open({ ...first.options, nc });
    cleanups.push(() => second.close());
    expect(second.status().outboxSize).toBe(5);
    await waitFor("relayed", () => second.status().outboxSize === 0 && !second.status().degraded);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(first.streamName)).state.messages).toBe(5);
  }, 60_000);

  test("stream deleted -> recreated and re-published from the journal", async () => {
    const { journal, jsm, streamName, count } = await setup();
    for (let i = 0; i < 25; i++) await journal.accept(record(i));
    await jsm.streams.delete(streamName);
    await journal.checkStream();
    // A periodic stream check may be the one re-publishing: wait until its acks are counted too.
    await waitFor("re-published", async () => (await count()) === 25 && journal.status().republished >= 25);
    expect(journal.status().lossesDetected).toBeGreaterThanOrEqual(1);
    expect(journal.status().republished).toBeGreaterThanOrEqual(25);
    // Entries survive a second check without being duplicated.
    await journal.checkStream();
    expect(await count()).toBe(25);
  });

  test("stream recreated by an operator with the same config is detected (created changed)", async () => {
    const { journal, jsm, streamName, count } = await setup();
    for (let i = 0; i < 10; i++) await journal.accept(record(i));
    // delete + recreate outside the journal: a new incarnation with last_seq 0
    const info = await jsm.streams.info(streamName);
    await jsm.streams.delete(streamName);
    await jsm.streams.add(info.config);
    await journal.checkStream();
    await waitFor("re-published", async () => (await count()) === 10);
  });

  test("expired journal entries are pruned", async () => {
    const { journal } = await setup({ journalRetentionMs: 0, pruneIntervalMs: 10 });
    for (let i = 0; i < 10; i++) await journal.accept(record(i));
    await waitFor("pruned", () => journal.status().journalSize === 0);
  });

  test("bounded: more than maxInFlight concurrent accepts are refused as overloaded (retryable)", async () => {
    const { journal } = await setup({ maxInFlight: 4 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => journal.accept(record(i))));
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused.length).toBe(6);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: "overloaded", retryable: true });
  });

  test("invalid records and options are typed errors", async () => {
    const { journal, options } = await setup();
    await expect(journal.accept(record(1, 1, { dedupId: "a b" }))).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(ReplicatedJournal.open({ ...options, journalRetentionMs: 10 * 60_000 })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await journal.close();
    await expect(journal.accept(record(1))).rejects.toMatchObject({ code: "closed" });
  });
});

export type { NatsConnection };
