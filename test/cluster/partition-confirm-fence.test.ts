// A confirmation (messages-received) is final only if its stream deletions were acknowledged while the lease was
// still held; acknowledged after the serve deadline, the owner answers "not owner" so the new owner confirms.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { isClusterError } from "../../src/cluster/errors.ts";
import { PartitionHost } from "../../src/cluster/partition-host.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { encodeRecord, type MailRecord } from "../../src/replication/record.ts";
import { ensureMailStream, mailSubject, resolveStreamOptions } from "../../src/replication/stream.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { natsConnect, tempDir } from "../replication/helpers.ts";

let nats: NatsCluster;
let nc: NatsConnection;
const tmp = tempDir();
const logger = createLogger({ level: "error" });
const mailbox = "did:example:confirm-fence";

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await natsConnect(nats.url);
  await ensureMailStream(await jetstreamManager(nc), resolveStreamOptions({ replicas: 1 }));
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  tmp.cleanup();
});

function rec(partition: number, i: number): MailRecord {
  return {
    id: `cf-${partition}-${i}`,
    dedupId: `cf-dedup-${partition}-${i}`,
    mailbox,
    partition,
    recipientDid: "did:example:r",
    payload: new TextEncoder().encode(`payload-${i}`),
    receivedAtMs: 1_700_000_000_000 + i,
    expiresAtMs: null,
  };
}

async function publish(partition: number, n: number): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rec(partition, i);
    seqs.push((await js.publish(mailSubject(partition), encodeRecord(r), { msgID: r.dedupId })).seq);
  }
  return seqs;
}

async function inStream(seq: number): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  return jsm.streams.getMessage("HAVEN_MAIL", { seq }).then((m) => m !== null, () => false);
}

describe("confirmations and the serve deadline", () => {
  test("deletions acknowledged while the lease is held: the removal resolves and the messages leave the stream", async () => {
    const seqs = await publish(7, 2);
    const host = await PartitionHost.open({ partition: 7, epoch: 1, dir: tmp.dir, nc, clock: systemClock, logger, isHeld: () => true });
    try {
      const ids = (await host.list(mailbox, { limit: 10 })).map((m) => m.id);
      expect(await host.remove(mailbox, ids)).toBe(2);
    } finally {
      await host.close();
    }
    for (const seq of seqs) expect(await inStream(seq)).toBe(false);
  });

  test("the lease ends while the deletions are in flight: not_owner (retryable), and the new owner confirms", async () => {
    const seqs = await publish(9, 3);
    let held = true;
    const host = await PartitionHost.open({ partition: 9, epoch: 1, dir: tmp.dir, nc, clock: systemClock, logger, isHeld: () => held });
    // The deletion requests pass the server before their acknowledgements come back: end the lease at the first
    // one, i.e. after the last pre-delete lease check and before any deletion is acknowledged.
    const sub = nc.subscribe("$JS.API.STREAM.MSG.DELETE.HAVEN_MAIL", {
      callback: () => {
        held = false;
      },
    });
    await nc.flush();
    let err: unknown;
    try {
      const ids = (await host.list(mailbox, { limit: 10 })).map((m) => m.id);
      expect(ids.length).toBe(3);
      err = await host.remove(mailbox, ids).then(() => null, (e: unknown) => e);
    } finally {
      sub.unsubscribe();
      await host.close();
    }
    expect(isClusterError(err) && err.code === "not_owner" && err.retryable).toBe(true);
    for (const seq of seqs) expect(await inStream(seq)).toBe(false); // the deletions themselves did land
    // The client's retry reaches the new owner, which rebuilt from the stream: nothing left to deliver, and the
    // retried confirmation succeeds.
    const next = await PartitionHost.open({ partition: 9, epoch: 2, dir: tmp.dir, nc, clock: systemClock, logger, isHeld: () => true });
    try {
      expect(await next.list(mailbox, { limit: 10 })).toEqual([]);
      expect(await next.remove(mailbox, [rec(9, 0).id, rec(9, 1).id, rec(9, 2).id])).toBe(0);
    } finally {
      await next.close();
    }
  });
});
