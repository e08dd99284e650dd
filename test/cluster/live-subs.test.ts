// Holder side of cross-node live delivery (LiveSubs) against a scripted owner on a real nats-server: what each close notice does.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LiveSubs } from "../../src/cluster/live-subs.ts";
import { liveSubject, mailboxSubject, type MailboxRequest } from "../../src/cluster/mailbox-wire.ts";
import { rpcRequest, rpcServe } from "../../src/cluster/rpc.ts";
import type { ListenerCloseReason } from "../../src/mailbox/listeners.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { waitFor } from "../cluster-e2e/harness.ts";

let nats: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: nats.url });
}, 30_000);

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** A holder "h" whose every partition is owned by "o", and a scripted owner that records subscribe requests. */
function setup() {
  const subscribes: { subId: string }[] = [];
  const owner = rpcServe<MailboxRequest>(nc, mailboxSubject("o"), (req) => {
    if (req.op === "subscribe") subscribes.push({ subId: req.subId });
    return true;
  });
  const subs = new LiveSubs({
    nodeId: "h",
    nc,
    clock: systemClock,
    logger: createLogger({ level: "silent" }),
    partitionOf: () => 0,
    hostOf: () => undefined,
    ownerOf: () => "o",
    requestTimeoutMs: 1000,
    reattachTimeoutMs: 5000,
  });
  subs.start();
  return { subscribes, subs, stop: () => (subs.stop(), owner.stop()) };
}

const notice = (subId: string, reason: string) => rpcRequest<boolean>(nc, liveSubject("h"), { t: "closed", subId, reason }, { timeoutMs: 2000 });

describe("LiveSubs close notices", () => {
  // A push the owner could not get to us (timeout, no responders) is "failed" on its side: the holder re-attaches
  // instead of staying "live" and receiving nothing (it used to be silently dropped).
  it("'failed' from the owner re-attaches; the subscription stays open", async () => {
    const { subscribes, subs, stop } = setup();
    const closed: ListenerCloseReason[] = [];
    try {
      await subs.subscribe("mb", async () => true, { onClosed: (r) => closed.push(r) });
      expect(subscribes.length).toBe(1);
      expect(await notice(subscribes[0]!.subId, "failed")).toBe(true);
      await waitFor("a re-subscribe with a new key", () => subscribes.length === 2);
      expect(subscribes[1]!.subId).not.toBe(subscribes[0]!.subId);
      expect(closed).toEqual([]);
      expect(subs.size).toBe(1);
      // A notice for the old attachment is ignored (the pushes of a deposed attachment get false).
      expect(await notice(subscribes[0]!.subId, "slow")).toBe(false);
      expect(closed).toEqual([]);
    } finally {
      stop();
    }
  }, 30_000);

  // "slow" and "crashed" end live mode on the holder: the client falls back to pickup (nothing is lost).
  it("'slow' ends the subscription with that reason", async () => {
    const { subscribes, subs, stop } = setup();
    const closed: ListenerCloseReason[] = [];
    try {
      await subs.subscribe("mb", async () => true, { onClosed: (r) => closed.push(r) });
      expect(await notice(subscribes[0]!.subId, "slow")).toBe(true);
      expect(closed).toEqual(["slow"]);
      expect(subs.size).toBe(0);
      expect(subscribes.length).toBe(1);
    } finally {
      stop();
    }
  }, 30_000);
});
