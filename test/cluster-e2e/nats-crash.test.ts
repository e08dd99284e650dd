// NATS-wide crash with real loss of acknowledged writes (real processes): every nats-server's store is rolled back
// to an earlier instant, as a power cut before 2.9.10's fsync would leave it. Expected: the nodes detect that the
// stream lost records they were acknowledged for, re-publish them from their local journals, and every forward that
// got a 202 (before and after the rolled-back instant, and while NATS was down) is delivered exactly once. Prints SEED.
import { describe, test } from "bun:test";
import { cpSync, rmSync } from "node:fs";
import { enrol, type Recipient } from "../e2e/helpers.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { ownershipSettled, waitFor, useTestCluster } from "./harness.ts";
import { drainMailbox, expectCleanEnd, forwardLoad, outboxesEmpty, OwnershipMonitor, streamLeftovers, waitOwnersCaughtUp } from "./scenario34-support.ts";

const STREAM = "HAVEN_MAIL";
const RECIPIENTS = 6;
const WORKERS = 6;

const cluster = useTestCluster({ nodes: 3 });

/**
 * Copies every server's store while all of them are stopped (SIGSTOP), so the copies are one consistent instant of
 * what each process had written: restoring them later loses everything acknowledged after it, on all servers at once.
 */
async function snapshotStores(): Promise<string[]> {
  const servers = cluster.nats.servers;
  await Promise.all(servers.map((s) => s.pause()));
  try {
    return servers.map((s) => {
      const copy = `${s.storeDir}.snapshot`;
      rmSync(copy, { recursive: true, force: true });
      cpSync(s.storeDir, copy, { recursive: true });
      return copy;
    });
  } finally {
    for (const s of servers) s.resume();
  }
}

describe("NATS-wide crash: every server loses its last acknowledged writes", () => {
  test("the journals re-publish what the stream lost; every acknowledged forward is delivered exactly once", async () => {
    const seed = seedFromEnv();
    console.log(`nats-crash SEED=${seed}`);
    const rng = new Rng(seed);
    const nodes = cluster.nodes;
    const recipients: Recipient[] = [];
    for (let i = 0; i < RECIPIENTS; i++) recipients.push(await enrol(nodes[i % nodes.length]!.ref));

    const monitor = new OwnershipMonitor(nodes);
    monitor.start();
    const load = forwardLoad({ nodes: () => nodes, recipients, rng, workers: WORKERS, prefix: "crash" });
    try {
      const snapshotAfter = 40 + rng.int(60);
      await waitFor(`${snapshotAfter} forwards acknowledged`, () => load.stats.acked.size >= snapshotAfter);
      const snapshots = await snapshotStores();
      const ackedAtSnapshot = load.stats.acked.size;
      // These are the acknowledged forwards the stream will lose: at least some from every node.
      const lostAfter = 60 + rng.int(80);
      await waitFor(`${lostAfter} more forwards acknowledged after the snapshot`, () => load.stats.acked.size >= ackedAtSnapshot + lostAfter, 30_000);
      const ackedAtCrash = load.stats.acked.size;

      // The crash: every server dies at once, and comes back with the store as it was at the snapshot.
      await Promise.all(cluster.nats.servers.map((s) => s.kill("SIGKILL")));
      const crashedAtMs = performance.now();
      console.log(`crashed all NATS servers: ${ackedAtCrash - ackedAtSnapshot} acknowledged forwards are not in the restored stores`);
      // While NATS is down the nodes keep acknowledging into their journals (or refuse with a retryable 503).
      await waitFor("forwards acknowledged while NATS is down", () => load.stats.acked.size >= ackedAtCrash + 20, 30_000);
      cluster.nats.servers.forEach((s, i) => {
        rmSync(s.storeDir, { recursive: true, force: true });
        cpSync(snapshots[i]!, s.storeDir, { recursive: true });
      });
      await Promise.all(cluster.nats.servers.map((s) => s.restart()));
      await cluster.nats.waitReady();
      console.log(`recovery: NATS-wide crash -> servers back with the rolled-back stores=${Math.round(performance.now() - crashedAtMs)} ms`);
      const ackedAtRestart = load.stats.acked.size;
      await waitFor("forwards acknowledged after the restart", () => load.stats.acked.size >= ackedAtRestart + 50, 60_000);
      const stats = await load.stop();
      await monitor.stop();

      const restartedAtMs = performance.now();
      await waitFor("every node's outbox drained", () => outboxesEmpty(nodes), 60_000);
      await waitFor("ownership settled", () => ownershipSettled(nodes, cluster.partitions), 60_000);
      await waitOwnersCaughtUp(nodes, cluster.nats.urls, STREAM, cluster.partitions, 60_000);
      console.log(`recovery: load stopped -> outboxes empty, ownership settled, owners caught up=${Math.round(performance.now() - restartedAtMs)} ms`);

      const delivered: string[] = [];
      for (const r of recipients) delivered.push(...(await drainMailbox(rng.pick(nodes), r)));
      const left = await streamLeftovers(cluster.nats.urls, STREAM);
      console.log(
        `acked=${stats.acked.size} ackedBeforeSnapshot=${ackedAtSnapshot} lostByTheStores=${ackedAtCrash - ackedAtSnapshot} ` +
          `retried=${JSON.stringify(Object.fromEntries(stats.retried))} delivered=${delivered.length} leftInStream=${left.total}`,
      );
      console.log(`left in ${STREAM} after draining: ${left.total} ${JSON.stringify(left.bySubject)} (and ${left.markers} confirmation markers)`);
      // Which phase the undelivered ones were acknowledged in (the acked map keeps acknowledgement order).
      const got = new Set(delivered);
      const phases = { beforeSnapshot: 0, rolledBack: 0, natsDown: 0, afterRestart: 0 };
      [...stats.acked.keys()].forEach((t, i) => {
        if (got.has(t)) return;
        if (i < ackedAtSnapshot) phases.beforeSnapshot++;
        else if (i < ackedAtCrash) phases.rolledBack++;
        else if (i < ackedAtRestart) phases.natsDown++;
        else phases.afterRestart++;
      });
      console.log(`undelivered by the phase of their 202: ${JSON.stringify(phases)}`);
      await expectCleanEnd({ delivered, stats, monitor, recipients, nodes, leftInStream: left.total });
    } finally {
      await load.stop().catch(() => {});
      await monitor.stop();
    }
  }, 240_000);
});
