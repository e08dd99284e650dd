// Cluster scenario (real processes): a NATS server loses its routes to the other servers under forward load, while it
// keeps serving its own clients. The Haven node that can reach only that server cannot reach the stream's quorum or the
// KV buckets: it accepts forwards into its outbox and fences itself, and the other nodes serve its partitions. After
// the routes heal, it relays its outbox and every acknowledged forward is delivered exactly once, with one owner per
// partition throughout. Prints SEED.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deliver, enrol, type Recipient } from "../e2e/helpers.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { clusterStatus, ownershipSettled, waitFor } from "./harness.ts";
import {
  drainMailbox,
  expectCleanEnd,
  forwardLoad,
  outboxesEmpty,
  OwnershipMonitor,
  readiness,
  startProxiedCluster,
  streamLeftovers,
  waitOwnersCaughtUp,
  type ProxiedCluster,
} from "./scenario34-support.ts";

const STREAM = "HAVEN_MAIL";
const RECIPIENTS = 6;
const WORKERS = 6;

let cluster: ProxiedCluster;
const recipients: Recipient[] = [];

// Opt-in (`bun run test:route-partition`), not in the default `bun test`: 13 of 15 runs passed on 2026-11-30, and one
// fresh-clone CI run hung after the heal until the test timeout, at a step not captured (docs/RELIABILITY.md). Until
// that is understood it would make CI fail at random. Every wait below is bounded and names its step.
const enabled = process.env.HAVEN_ROUTE_PARTITION === "1";

describe.skipIf(!enabled)("route partition: one NATS server cut off from its peers", () => {
  beforeAll(async () => {
    // Node i reaches NATS server i only, so isolating a server's routes cuts its node off from the cluster's quorum
    // while that node's own NATS connection stays up.
    cluster = await startProxiedCluster({ nodes: 3, proxiedRoutes: true, serversFor: (i) => [i] });
    await waitFor("every partition served by exactly one node", () => ownershipSettled(cluster.nodes, cluster.partitions), 30_000);
    for (let i = 0; i < RECIPIENTS; i++) recipients.push(await enrol(cluster.nodes[i % cluster.nodes.length]!.ref));
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  test("its node degrades into the outbox and fences; after the heal every 202 is delivered exactly once", async () => {
    const seed = seedFromEnv();
    console.log(`route partition SEED=${seed}`);
    const rng = new Rng(seed);
    const nodes = cluster.nodes;
    const victim = nodes[2]!;
    const server = cluster.nats.servers[2]!;
    const survivors = nodes.filter((n) => n !== victim);
    const monitor = new OwnershipMonitor(nodes);
    monitor.start();
    const load = forwardLoad({ nodes: () => nodes, recipients, rng, workers: WORKERS, prefix: "route" });
    try {
      await waitFor("some load before the partition", () => load.stats.acked.size >= 40);
      const viaVictimBefore = load.stats.ackedVia.get(victim.id) ?? 0;
      cluster.nats.isolateRoutes(server.name);
      const cutAtMs = performance.now();

      await waitFor(
        "the victim acknowledges forwards into its outbox",
        async () => {
          const s = await clusterStatus(victim);
          return s.outbox.degraded && s.outbox.size > 0 && (load.stats.ackedVia.get(victim.id) ?? 0) >= viaVictimBefore + 20;
        },
        30_000,
      );
      // Bounded by NATS: the majority side first elects new leaders for the stream and KV groups n3 led (6.6-28.4 s here).
      await waitFor("survivors serve every partition", () => ownershipSettled(survivors, cluster.partitions), 60_000);
      console.log(`route partition: cut -> survivors serve every partition=${Math.round(performance.now() - cutAtMs)} ms`);
      expect((await clusterStatus(victim)).owned.filter((o) => o.serving)).toEqual([]);
      const r = await readiness(victim);
      console.log(`route partition: victim readiness ${r.status} ${JSON.stringify(r.checks.map((c) => [c.name, c.status, c.detail]))}`);
      const viaSurvivors = (): number => survivors.reduce((n, s) => n + (load.stats.ackedVia.get(s.id) ?? 0), 0);
      const viaSurvivorsBefore = viaSurvivors();
      await waitFor("the survivors keep acknowledging", () => viaSurvivors() >= viaSurvivorsBefore + 20);

      const outboxAtHeal = (await clusterStatus(victim)).outbox.size;
      const ackedAtHeal = load.stats.acked.size;
      cluster.nats.healRoutes(server.name);
      const healedAtMs = performance.now();
      await waitFor(
        "the victim relayed its outbox",
        async () => {
          const s = await clusterStatus(victim);
          return !s.outbox.degraded && s.outbox.size === 0;
        },
        30_000,
      );
      console.log(`route partition: heal -> victim's outbox empty (${outboxAtHeal} at heal)=${Math.round(performance.now() - healedAtMs)} ms`);
      await waitFor("ownership settled on all nodes", () => ownershipSettled(nodes, cluster.partitions), 30_000);
      await waitFor("more load after the heal", () => load.stats.acked.size >= ackedAtHeal + 20, 30_000);
      const stats = await load.stop();
      await monitor.stop();

      await waitFor("every node's outbox drained", () => outboxesEmpty(nodes), 30_000);
      await waitFor("ownership settled", () => ownershipSettled(nodes, cluster.partitions), 30_000);
      const catchUpMs = await waitOwnersCaughtUp(nodes, cluster.nats.urls, STREAM, cluster.partitions, 30_000);
      const delivered: string[] = [];
      // Bounded: a mailbox that never empties (a confirmed message coming back) fails here instead of hanging.
      for (const rcp of recipients) {
        delivered.push(...(await drainMailbox(rng.pick(nodes), rcp, { maxRounds: 500 })));
        expect(await deliver(rng.pick(nodes).ref, rcp)).toEqual([]);
      }
      const left = await streamLeftovers(cluster.nats.urls, STREAM);
      console.log(
        `acked=${stats.acked.size} viaVictim=${stats.ackedVia.get(victim.id) ?? 0} retried=${JSON.stringify(Object.fromEntries(stats.retried))} ` +
          `outboxAtHeal=${outboxAtHeal} catchUpWaitMs=${Math.round(catchUpMs)} delivered=${delivered.length} moved=${monitor.moved().length} left=${left.total}`,
      );
      await expectCleanEnd({ delivered, stats, monitor, recipients, nodes, leftInStream: left.total });
      expect(monitor.moved().length).toBeGreaterThan(0);
    } finally {
      await load.stop().catch(() => {});
      await monitor.stop();
      cluster.nats.healRoutes(server.name);
    }
  }, 400_000);
});
