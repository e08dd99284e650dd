// Clock skew between Haven nodes (real processes, libfaketime): node-b's wall clock runs 150 s ahead, node-c's 150 s
// behind. Expected: nothing changes for agents. Leases use each node's monotonic clock and the NATS servers' clocks
// for expiry, so there is one owner per partition throughout, also when the node ahead is killed (-9) under load and
// restarted; every acknowledged forward is delivered exactly once and nothing is left in the stream. Prints SEED.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { enrol, type Recipient } from "../e2e/helpers.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { ownershipSettled, startTestCluster, waitFor, type ClusterNode, type TestCluster } from "./harness.ts";
import { drainMailbox, expectCleanEnd, forwardLoad, OwnershipMonitor, streamLeftovers, waitOwnersCaughtUp } from "./scenario34-support.ts";

const STREAM = "HAVEN_MAIL";
const SKEW_SECONDS = [0, 150, -150];
const LIBFAKETIME = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"].find((p) => existsSync(p));
// .ci/run installs libfaketime; a developer machine without it skips loudly instead of failing.
const runnable = LIBFAKETIME !== undefined || process.env.CI === "true";
if (!runnable) console.warn("clock-skew test SKIPPED: libfaketime is not installed (apt-get install faketime)");

let cluster: TestCluster;

beforeAll(async () => {
  if (!runnable) return;
  if (LIBFAKETIME === undefined) throw new Error("libfaketime is required in CI (.ci/run installs the faketime package)");
  cluster = await startTestCluster({
    nodes: 3,
    nodeEnv: (i): Record<string, string> =>
      SKEW_SECONDS[i] === 0
        ? {}
        : { LD_PRELOAD: LIBFAKETIME, FAKETIME: `${SKEW_SECONDS[i]! > 0 ? "+" : ""}${SKEW_SECONDS[i]}s`, FAKETIME_DONT_FAKE_MONOTONIC: "1", FAKETIME_NO_CACHE: "1" },
  });
  await waitFor("every partition served by exactly one node", () => ownershipSettled(cluster.nodes, cluster.partitions));
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
}, 30_000);

/** A node's wall clock minus ours, in seconds, from its HTTP Date header (1 s resolution). */
async function skewOf(url: string): Promise<number> {
  const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(2000) });
  const date = Date.parse(res.headers.get("date") ?? "");
  if (Number.isNaN(date)) throw new Error("no Date header");
  return (date - Date.now()) / 1000;
}

describe.skipIf(!runnable)("clock skew: node wall clocks 150 s ahead and behind", () => {
  test("one owner per partition, every acknowledged forward delivered once, also across a kill -9 of the node ahead", async () => {
    const seed = seedFromEnv();
    console.log(`clock-skew SEED=${seed}`);
    const rng = new Rng(seed);
    const nodes = cluster.nodes;
    // The skew is real (else this test would prove nothing): each node's Date header is off by its shift.
    for (const [i, n] of nodes.entries()) expect(Math.abs((await skewOf(n.proc.url)) - SKEW_SECONDS[i]!)).toBeLessThan(5);

    // Enrolment is authenticated and carries our created_time: the node 150 s ahead sees it 150 s old, the one
    // behind sees it from the future; both are inside the replay window.
    const recipients: Recipient[] = [];
    for (let i = 0; i < 6; i++) recipients.push(await enrol(nodes[i % nodes.length]!.ref));

    const monitor = new OwnershipMonitor(nodes);
    monitor.start();
    let down: ClusterNode | undefined;
    const load = forwardLoad({ nodes: () => nodes.filter((n) => n !== down), recipients, rng, workers: 6, prefix: "skew", mayDrop: (n) => n === down });
    try {
      await waitFor("forwards acknowledged before the kill", () => load.stats.acked.size >= 60 + rng.int(60));
      // Some confirmations before the kill, through every node (routed to the owners, whatever their clocks).
      const early: string[] = [];
      for (const [i, r] of recipients.entries()) early.push(...(await drainMailbox(nodes[i % nodes.length]!, r, { maxRounds: 1 })));
      const ahead = nodes[1]!;
      down = ahead;
      await ahead.proc.kill("SIGKILL");
      const killedAtMs = performance.now();
      const survivors = [nodes[0]!, nodes[2]!];
      await waitFor("the survivors serve every partition", () => ownershipSettled(survivors, cluster.partitions), 30_000);
      console.log(`recovery: kill -9 of the node 150 s ahead -> survivors (one 150 s behind) serve every partition=${Math.round(performance.now() - killedAtMs)} ms`);
      const ackedAtTakeover = load.stats.acked.size;
      await waitFor("forwards acknowledged after the takeover", () => load.stats.acked.size >= ackedAtTakeover + 50, 30_000);
      await ahead.proc.restart();
      down = undefined;
      expect(Math.abs((await skewOf(ahead.proc.url)) - SKEW_SECONDS[1]!)).toBeLessThan(5);
      await waitFor("ownership settled on 3 nodes after the restart", () => ownershipSettled(nodes, cluster.partitions), 30_000);
      const ackedAtRestart = load.stats.acked.size;
      await waitFor("forwards acknowledged after the restart", () => load.stats.acked.size >= ackedAtRestart + 50, 30_000);
      const stats = await load.stop();
      await monitor.stop();

      await waitFor("ownership settled", () => ownershipSettled(nodes, cluster.partitions));
      await waitOwnersCaughtUp(nodes, cluster.nats.urls, STREAM, cluster.partitions, 30_000);
      const delivered = [...early];
      for (const r of recipients) delivered.push(...(await drainMailbox(rng.pick(nodes), r)));
      const left = await streamLeftovers(cluster.nats.urls, STREAM);
      console.log(`acked=${stats.acked.size} confirmedBeforeKill=${early.length} delivered=${delivered.length} leftInStream=${left.total} moved=${monitor.moved().length}`);
      await expectCleanEnd({ delivered, stats, monitor, recipients, nodes, leftInStream: left.total });
    } finally {
      await load.stop().catch(() => {});
      await monitor.stop();
    }
  }, 180_000);
});
