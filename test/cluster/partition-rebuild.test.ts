// PartitionHost rebuild (batched straight into the cache before catch-up, through the mailbox actor after) against a real nats-server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { PartitionHost } from "../../src/cluster/partition-host.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { encodeRecord, type MailRecord } from "../../src/replication/record.ts";
import { ensureMailStream, mailSubject, resolveStreamOptions } from "../../src/replication/stream.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import type { StoredMessage } from "../../src/storage/types.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { natsConnect, tempDir, waitFor } from "../replication/helpers.ts";

let nats: NatsCluster;
let nc: NatsConnection;
const tmp = tempDir();
const logger = createLogger({ level: "error" });

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await natsConnect(nats.url);
  await ensureMailStream(await jetstreamManager(nc), resolveStreamOptions({ streamName: STREAM, replicas: 1 }));
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  tmp.cleanup();
});

const STREAM = "REBUILD_MAIL";
const MAILBOXES = ["did:example:rebuild-a", "did:example:rebuild-b"];
/** Every record has the same receivedAtMs, so a listing's order is the order the cache stored them in. */
const RECEIVED_AT_MS = 1_700_000_000_000;

/** Each test uses its own partition (subject) of the one stream. */
function rec(partition: number, i: number): MailRecord {
  return {
    id: `rb-${i}`,
    dedupId: `rb-${partition}-dedup-${i}`,
    mailbox: MAILBOXES[i % MAILBOXES.length]!,
    partition,
    recipientDid: "did:example:r",
    payload: new TextEncoder().encode(`payload-${i}`),
    receivedAtMs: RECEIVED_AT_MS,
    expiresAtMs: null,
  };
}

async function listAll(host: PartitionHost, mailbox: string): Promise<StoredMessage[]> {
  return host.list(mailbox, { limit: 1000 }); // the driver's bound: keep each mailbox below it
}

async function publish(partition: number, r: MailRecord, msgID?: string): Promise<number> {
  return (await jetstream(nc).publish(mailSubject(partition), encodeRecord(r), msgID === undefined ? undefined : { msgID })).seq;
}

describe("partition rebuild", () => {
  test("a large rebuild stores every record once, in stream order, and confirms every copy of a duplicate", async () => {
    const p = 5;
    const n = 1800;
    const seqs: number[] = [];
    for (let i = 0; i < n; i += 300) seqs.push(...(await Promise.all(Array.from({ length: Math.min(300, n - i) }, (_, k) => publish(p, rec(p, i + k), rec(p, i + k).dedupId)))));
    // A copy of record 0 re-published after the dedup window (a journal relay): another seq, the same dedupId.
    const copySeq = await publish(p, { ...rec(p, 0), id: "rb-0-copy" });

    const usage: string[] = [];
    const host = await PartitionHost.open({
      partition: p,
      epoch: 1,
      dir: tmp.dir,
      nc,
      clock: systemClock,
      logger,
      replica: { streamName: STREAM },
      isHeld: () => true,
      onUsageChanged: (m) => usage.push(m),
    });
    try {
      expect(host.serving).toBe(true);
      expect(host.status().appliedSeq).toBe(copySeq);
      // One usage announcement per mailbox after the rebuild, not one per record.
      expect(usage.sort()).toEqual([...MAILBOXES].sort());
      for (const [k, mailbox] of MAILBOXES.entries()) {
        const ids = (await listAll(host, mailbox)).map((m) => m.id);
        const expected = Array.from({ length: n }, (_, i) => i).filter((i) => i % MAILBOXES.length === k).map((i) => `rb-${i}`);
        expect(ids).toEqual(expected); // stored once each (the copy is a duplicate), in stream order
        expect((await host.stats(mailbox)).count).toBe(expected.length);
      }
      // Confirming record 0 deletes both stream messages carrying it.
      expect(await host.remove(MAILBOXES[0]!, ["rb-0"])).toBe(1);
      const jsm = await jetstreamManager(nc);
      for (const seq of [seqs[0]!, copySeq]) {
        const present = await jsm.streams.getMessage(STREAM, { seq }).then((m) => m !== null, () => false);
        expect(present).toBe(false);
      }
    } finally {
      await host.close();
    }
  }, 60_000);

  test("after catch-up, new records go through the mailbox actor: a live listener receives them", async () => {
    const p = 6;
    for (let i = 0; i < 200; i++) await publish(p, rec(p, i), rec(p, i).dedupId);
    const host = await PartitionHost.open({ partition: p, epoch: 1, dir: tmp.dir, nc, clock: systemClock, logger, replica: { streamName: STREAM }, isHeld: () => true });
    try {
      const pushed: string[] = [];
      const unsubscribe = await host.subscribe(MAILBOXES[0]!, async (m: StoredMessage) => {
        pushed.push(m.id);
        return true;
      });
      await publish(p, rec(p, 1000), rec(p, 1000).dedupId);
      await waitFor("the live record pushed to the listener", () => pushed.includes("rb-1000"));
      expect(pushed).toEqual(["rb-1000"]); // the rebuilt records were not pushed live
      expect((await listAll(host, MAILBOXES[0]!)).length).toBe(101);
      unsubscribe();
    } finally {
      await host.close();
    }
  }, 60_000);
});
