// A closed PartitionReplica releases the connection status listener it watches reconnects with (every rebuild opens
// a new replica: a leaked listener per rebuild would pile up on a long-lived connection). Real nats-server.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { PartitionReplica } from "../../src/replication/replica.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";

let nats: NatsCluster;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  await (await jetstreamManager(nc)).streams.add({ name: "HAVEN_MAIL", subjects: ["haven.mail.>"] });
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

test("opening and closing replicas leaves the connection's status listeners as they were", async () => {
  // nats.js keeps status listeners in protocol.listeners until they are stopped (not public API: checked here only).
  const listeners = () => (nc as unknown as { protocol: { listeners: unknown[] } }).protocol.listeners.length;
  const before = listeners();
  for (let i = 0; i < 5; i++) {
    const r = await PartitionReplica.open({ nc }, i, 1, { apply: async () => {} });
    expect(listeners()).toBeGreaterThan(before); // its own, and the consumer's
    await r.close();
  }
  expect(listeners()).toBe(before);
}, 30_000);
