// Cluster scenario 4 (real processes): SIGKILL the NATS server leading HAVEN_MAIL under forward load. Service goes
// on (retryable 503s or slower acks at most; the longest gap is printed), the server restarts and rejoins, and every
// acknowledged forward is delivered exactly once with a single owner per partition throughout. Prints SEED.
import { describe, test } from "bun:test";
import { enrol, type Recipient } from "../e2e/helpers.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { ownershipSettled, waitFor, useTestCluster } from "./harness.ts";
import { drainMailbox, expectCleanEnd, forwardLoad, outboxesEmpty, OwnershipMonitor, streamLeftovers, waitOwnersCaughtUp } from "./scenario34-support.ts";

const STREAM = "HAVEN_MAIL";
const RECIPIENTS = 6;
const WORKERS = 6;

const cluster = useTestCluster({ nodes: 3 });

type Jsz = { account_details?: { stream_detail?: { name: string; cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] } }[] }[] };

/** True when the stream's leader (as seen from `monitorUrl`) lists `serverName` as a current replica, or it leads. */
async function replicaCurrent(monitorUrl: string, serverName: string): Promise<boolean> {
  const res = await fetch(`${monitorUrl}/jsz?accounts=true&streams=true`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as Jsz;
  for (const acc of body.account_details ?? []) {
    for (const sd of acc.stream_detail ?? []) {
      if (sd.name !== STREAM || !sd.cluster) continue;
      if (sd.cluster.leader === serverName) return true;
      return (sd.cluster.replicas ?? []).some((r) => r.name === serverName && r.current);
    }
  }
  return false;
}

describe("scenario 4: the NATS server leading the stream is killed under load", () => {
  test("service continues, the server rejoins, every acknowledged forward is delivered exactly once", async () => {
    const seed = seedFromEnv();
    console.log(`scenario 4 SEED=${seed}`);
    const rng = new Rng(seed);
    const nodes = cluster.nodes;
    const recipients: Recipient[] = [];
    for (let i = 0; i < RECIPIENTS; i++) recipients.push(await enrol(nodes[i % nodes.length]!.ref));

    const monitor = new OwnershipMonitor(nodes);
    monitor.start();
    const load = forwardLoad({ nodes: () => nodes, recipients, rng, workers: WORKERS, prefix: "s4" });
    try {
      const killAfter = 40 + rng.int(80);
      await waitFor(`${killAfter} forwards acknowledged before the kill`, () => load.stats.acked.size >= killAfter);
      let leader = null as Awaited<ReturnType<typeof cluster.nats.streamLeader>>;
      await waitFor("the stream has a leader", async () => (leader = await cluster.nats.streamLeader(STREAM)) !== null);
      const victim = leader!;
      console.log(`killing ${victim.name} (leader of ${STREAM}) after ${load.stats.acked.size} acks`);
      // The gap measured from here on is the one caused by the kill.
      load.stats.longestGapMs = 0;
      const killedAtMs = performance.now();
      await victim.kill("SIGKILL");
      const ackedAtKill = load.stats.acked.size;

      // Service continues on the two remaining servers: a new leader, and forwards keep being acknowledged.
      await waitFor("a new stream leader", async () => {
        const l = await cluster.nats.streamLeader(STREAM);
        return l !== null && l !== victim;
      });
      console.log(`recovery: kill-9 of the stream leader -> new ${STREAM} leader seen=${Math.round(performance.now() - killedAtMs)} ms`);
      await waitFor("forwards acknowledged after the kill", () => load.stats.acked.size >= ackedAtKill + 100, 30_000);
      const gapWhileDownMs = load.stats.longestGapMs;
      console.log(`recovery: longest pause between two 202s while the stream leader was down=${Math.round(gapWhileDownMs)} ms`);

      const restartAtMs = performance.now();
      await victim.restart();
      await cluster.nats.waitReady();
      console.log(`recovery: restart of ${victim.name} -> NATS cluster ready=${Math.round(performance.now() - restartAtMs)} ms`);
      // Replica lists name the other peers, so ask the servers that stayed up.
      const others = cluster.nats.servers.filter((x) => x !== victim);
      await waitFor(`${victim.name} rejoined with a current replica`, async () => {
        for (const o of others) if (await replicaCurrent(o.monitorUrl, victim.name).catch(() => false)) return true;
        return false;
      });
      console.log(`recovery: restart of ${victim.name} -> rejoined with a current ${STREAM} replica=${Math.round(performance.now() - restartAtMs)} ms`);
      const ackedAtRestart = load.stats.acked.size;
      await waitFor("forwards acknowledged after the restart", () => load.stats.acked.size >= ackedAtRestart + 50);
      const stats = await load.stop();
      await monitor.stop();

      // Journaled-only accepts (if any) are relayed; then ownership settles and everything is picked up once.
      await waitFor("every node's outbox drained", () => outboxesEmpty(nodes));
      await waitFor("ownership settled", () => ownershipSettled(nodes, cluster.partitions));
      // Delivery is eventual: an owner whose consumer lived on the killed server catches up once its watchdog
      // reopened it. Wait (bounded) until every owner applied its subject's last seq; never catching up fails here.
      const catchUpMs = await waitOwnersCaughtUp(nodes, cluster.nats.urls, STREAM, cluster.partitions, 30_000);
      console.log(`recovery: load stopped, outboxes empty, ownership settled -> every owner applied its partition's last seq=${Math.round(catchUpMs)} ms`);
      const delivered: string[] = [];
      for (const r of recipients) delivered.push(...(await drainMailbox(rng.pick(nodes), r)));
      console.log(
        `acked=${stats.acked.size} retried503=${JSON.stringify(Object.fromEntries(stats.retried))} longestGapWhileLeaderDownMs=${Math.round(gapWhileDownMs)} ` +
          `longestGapOverallMs=${Math.round(stats.longestGapMs)} catchUpWaitMs=${Math.round(catchUpMs)} delivered=${delivered.length} moved=${monitor.moved().length} polls=${monitor.polls}`,
      );
      // Undelivered messages still in the stream mean an owner stopped serving its partition (not a stream loss).
      const left = await streamLeftovers(cluster.nats.urls, STREAM);
      console.log(`left in ${STREAM} after draining: ${left.total} ${JSON.stringify(left.bySubject)} (and ${left.markers} confirmation markers)`);
      await expectCleanEnd({ delivered, stats, monitor, recipients, nodes, leftInStream: left.total });
    } finally {
      await load.stop().catch(() => {});
      await monitor.stop();
    }
  }, 90_000);
});
