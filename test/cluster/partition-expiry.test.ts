// The owner's expiry sweep (PartitionHost.sweepExpired) and list-reply capping, against a real nats-server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { capListBytes } from "../../src/cluster/mailbox-wire.ts";
import { PartitionHost } from "../../src/cluster/partition-host.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { encodeRecord, type MailRecord } from "../../src/replication/record.ts";
import { ensureMailStream, mailSubject, resolveStreamOptions } from "../../src/replication/stream.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import type { StoredMessage } from "../../src/storage/types.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { natsConnect, tempDir } from "../replication/helpers.ts";

let nats: NatsCluster;
let nc: NatsConnection;
const tmp = tempDir();
const logger = createLogger({ level: "error" });

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

const mailbox = "did:example:expiry-mailbox";

function rec(i: number, expiresAtMs: number | null): MailRecord {
  return {
    id: `exp-${i}`,
    dedupId: `exp-dedup-${i}`,
    mailbox,
    partition: 3,
    recipientDid: "did:example:r",
    payload: new TextEncoder().encode(`payload-${i}`),
    receivedAtMs: 1_700_000_000_000 + i,
    expiresAtMs,
  };
}

describe("expiry in cluster mode", () => {
  test("the owner sweeps expired messages from its cache and deletes them from the stream", async () => {
    const js = jetstream(nc);
    const nowMs = Date.now();
    const expired = [0, 1, 2].map((i) => rec(i, nowMs - 1000));
    const live = [rec(3, null), rec(4, nowMs + 3_600_000)];
    const seqs: number[] = [];
    for (const r of [...expired, ...live]) seqs.push((await js.publish(mailSubject(3), encodeRecord(r), { msgID: r.dedupId })).seq);

    const open = () =>
      PartitionHost.open({ partition: 3, epoch: 1, dir: tmp.dir, nc, clock: systemClock, logger, isHeld: () => true });
    const host = await open();
    try {
      expect((await host.list(mailbox, { limit: 10 })).map((m) => m.id)).toEqual(["exp-0", "exp-1", "exp-2", "exp-3", "exp-4"]);
      expect(await host.sweepExpired(nowMs, 2)).toBe(2); // bounded per call
      expect(await host.sweepExpired(nowMs, 1000)).toBe(1);
      expect(await host.sweepExpired(nowMs, 1000)).toBe(0);
      expect((await host.list(mailbox, { limit: 10 })).map((m) => m.id)).toEqual(["exp-3", "exp-4"]);
    } finally {
      await host.close();
    }
    // Gone from the stream too: a rebuild (new owner) does not bring them back.
    const jsm = await jetstreamManager(nc);
    for (const [i, seq] of seqs.entries()) {
      const present = await jsm.streams.getMessage("HAVEN_MAIL", { seq }).then((m) => m !== null, () => false);
      expect(present).toBe(i >= 3);
    }
    const rebuilt = await open();
    try {
      expect((await rebuilt.list(mailbox, { limit: 10 })).map((m) => m.id)).toEqual(["exp-3", "exp-4"]);
    } finally {
      await rebuilt.close();
    }
  });

  test("a deposed owner does not sweep", async () => {
    const host = await PartitionHost.open({ partition: 5, epoch: 1, dir: tmp.dir, nc, clock: systemClock, logger, isHeld: () => false });
    try {
      expect(await host.sweepExpired(Date.now(), 1000)).toBe(0);
    } finally {
      await host.close();
    }
  });
});

describe("list replies fit in one NATS message", () => {
  const msg = (i: number, bytes: number): StoredMessage => ({
    id: `id-${i}`,
    mailbox: "did:example:m",
    recipientDid: "did:example:r",
    payload: new Uint8Array(bytes).fill(i & 0xff),
    sizeBytes: bytes,
    receivedAtMs: 1_700_000_000_000 + i,
    expiresAtMs: i % 2 === 0 ? null : 1_800_000_000_000,
  });

  test("the owner returns the longest prefix that fits, and its encoding really fits", () => {
    const msgs = Array.from({ length: 40 }, (_, i) => msg(i, 100_000)); // 4 MB in all
    const maxBytes = 1024 * 1024 - 4096;
    const capped = capListBytes(msgs, maxBytes);
    expect(capped.length).toBeGreaterThan(5);
    expect(capped.length).toBeLessThan(msgs.length);
    expect(capped).toEqual(msgs.slice(0, capped.length));
    expect(encode([1, capped]).byteLength).toBeLessThanOrEqual(maxBytes);
    // One more would not have fitted by the bound (so the prefix is as long as the bound allows).
    expect(encode([1, msgs.slice(0, capped.length + 1)]).byteLength).toBeGreaterThan(maxBytes - 200 * (capped.length + 1));
  });

  test("small lists pass unchanged; a single large message is still returned", () => {
    const small = Array.from({ length: 10 }, (_, i) => msg(i, 10));
    expect(capListBytes(small, 1024 * 1024)).toEqual(small);
    expect(capListBytes([msg(0, 2_000_000)], 1024 * 1024).length).toBe(1);
    expect(capListBytes([], 1024)).toEqual([]);
  });
});
