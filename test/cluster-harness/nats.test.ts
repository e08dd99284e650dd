// The nats-server harness: a 3-server JetStream cluster forms, takes an R3 stream, survives a server kill/restart; a single server works; stop() leaves no process.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startNatsCluster, startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { waitFor } from "../replication/helpers.ts";

// Real processes: bunfig's [test] timeout is not honoured by this Bun, so set the ceiling per file.
setDefaultTimeout(30_000);

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("startNatsCluster (3 servers, JetStream)", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await startNatsCluster({ servers: 3 });
    nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100 });
  }, 30_000);

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  }, 30_000);

  test("servers are distinct, routed, and agree on a meta leader", async () => {
    expect(cluster.servers.map((s) => s.name)).toEqual(["n1", "n2", "n3"]);
    expect(new Set(cluster.urls).size).toBe(3);
    for (const s of cluster.servers) expect(s.alive()).toBe(true);
    const leader = await cluster.metaLeader();
    expect(["n1", "n2", "n3"]).toContain(leader ?? "none");
  }, 30_000);

  test("a replicas=3 stream is created, placed on all three servers, and stores messages", async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: "HARNESS_R3", subjects: ["harness.r3.>"], num_replicas: 3 });
    expect(info.config.num_replicas).toBe(3);
    const js = jetstream(nc);
    const ack = await js.publish("harness.r3.a", new TextEncoder().encode("hello"), { msgID: "m-1" });
    expect(ack.seq).toBe(1);
    const dup = await js.publish("harness.r3.a", new TextEncoder().encode("hello"), { msgID: "m-1" });
    expect(dup.duplicate).toBe(true);
    const after = await jsm.streams.info("HARNESS_R3");
    expect(after.state.messages).toBe(1);
    const replicaNames = [after.cluster?.leader, ...(after.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(replicaNames).toEqual(["n1", "n2", "n3"]);
    const leader = await cluster.streamLeader("HARNESS_R3");
    expect(leader?.name).toBe(after.cluster?.leader);
  }, 30_000);

  test("killing the stream leader keeps the stream writable; the server restarts and rejoins", async () => {
    const t0 = Date.now();
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const leader = await cluster.streamLeader("HARNESS_R3");
    expect(leader).not.toBeNull();
    const oldPid = leader!.pid;
    await leader!.kill("SIGKILL");
    expect(leader!.alive()).toBe(false);
    expect(processExists(oldPid)).toBe(false);

    // A new leader is elected among the two survivors; publish retries until it is (bounded by the test timeout).
    let ack;
    for (;;) {
      try {
        ack = await js.publish("harness.r3.b", new TextEncoder().encode("after-kill"), { msgID: "m-2", timeout: 1000 });
        break;
      } catch {
        // no leader yet, or the client is reconnecting away from the killed server
      }
    }
    console.log("re-elected after", Date.now() - t0, "ms");
    expect(ack.seq).toBe(2);

    await leader!.restart();
    expect(leader!.alive()).toBe(true);
    expect(leader!.pid).not.toBe(oldPid);
    await cluster.waitReady();
    const info = await jsm.streams.info("HARNESS_R3");
    expect(info.state.messages).toBe(2);
  }, 30_000);
});

describe("startNatsCluster with proxied routes", () => {
  // Expected: every route runs through its proxy; isolating a server leaves it with no route (and no route learned by
  // gossip around the proxies) while the other two stay routed and its clients still connect; healing restores the mesh.
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster({ servers: 3, proxiedRoutes: true });
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  async function routesOf(i: number): Promise<number> {
    const r = await fetch(`${cluster.servers[i]!.monitorUrl}/routez`);
    return ((await r.json()) as { num_routes: number }).num_routes;
  }

  test("isolateRoutes cuts one server off from its peers only; healRoutes restores the full mesh", async () => {
    for (let i = 0; i < 3; i++) expect(await routesOf(i)).toBe(2);
    cluster.isolateRoutes("n3");
    await waitFor("n3 without routes, n1 and n2 routed to each other only", async () => (await routesOf(2)) === 0 && (await routesOf(0)) === 1 && (await routesOf(1)) === 1);
    // Its clients still connect: the server itself is up.
    const nc = await connect({ servers: cluster.servers[2]!.url });
    await nc.flush();
    await nc.close();
    cluster.healRoutes("n3");
    await waitFor("the full mesh again", async () => (await routesOf(0)) === 2 && (await routesOf(1)) === 2 && (await routesOf(2)) === 2);
  }, 30_000);
});

describe("startNatsServer (single)", () => {
  test("starts with JetStream, survives restart with its store, and stop() removes process and temp dir", async () => {
    const nats = await startNatsServer();
    const server = nats.servers[0]!;
    expect(nats.urls).toEqual([nats.url]);
    expect(server.clusterPort).toBeNull();
    try {
      let nc = await connect({ servers: nats.url });
      let jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HARNESS_R1", subjects: ["harness.r1"] });
      await jetstream(nc).publish("harness.r1", new Uint8Array([1]));
      await nc.close();

      await server.restart();
      nc = await connect({ servers: nats.url });
      jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info("HARNESS_R1")).state.messages).toBe(1);
      await nc.close();
    } finally {
      const pid = server.pid;
      await nats.stop();
      expect(processExists(pid)).toBe(false);
      expect(existsSync(nats.dir)).toBe(false);
    }
  }, 30_000);
});
