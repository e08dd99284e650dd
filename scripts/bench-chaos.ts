// `bun run bench:chaos`: sustained forward load on a 3-node cluster (3 NATS servers) while one node is cut off from NATS
// for 10 s and then every node is SIGTERM-drained and restarted in turn; per-second throughput/p50/p99/errors, recovery
// times, an SVG plot, a loss check over every mailbox. Ends with one JSON line.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { argValue, fmtInt, numberArg } from "./lib/bench.ts";
import { BenchParty, BenchWorld } from "./lib/bench-party.ts";
import { round } from "./lib/proc-stats.ts";
import { buildEnvelopes, ChaosCluster, enrolAll, mailboxCounts, TIMINGS, until } from "./lib/chaos/cluster.ts";
import { Loadgen } from "./lib/chaos/loadgen-client.ts";
import { nowAbsMs } from "./lib/chaos/loadgen.ts";
import { expectedPerRecipient, lossReport, type LossReport } from "./lib/chaos/loss.ts";
import { baselineOf, DEFAULT_RULE, recoverySeconds } from "./lib/chaos/recovery.ts";
import { errorCount, errorsByKind, secondsWithin, windowFigures, worstSecond, type SecondRecord, type WindowFigures } from "./lib/chaos/series.ts";
import { renderPlot, type PlotFault } from "./lib/chaos/svg-plot.ts";

const opts = {
  /** Minimum load duration; the run lasts at least until the rolling restart plus --tail-seconds are over. */
  seconds: numberArg("seconds", 90, 30, 3600),
  warmupSeconds: numberArg("warmup-seconds", 5, 0, 60),
  baselineSeconds: numberArg("baseline-seconds", 20, 5, 600),
  partitionSeconds: numberArg("partition-seconds", 10, 1, 600),
  /** Between the partition's end and the rolling restart, and after each restarted node has settled. */
  gapSeconds: numberArg("gap-seconds", 15, 3, 600),
  restartGapSeconds: numberArg("restart-gap-seconds", 5, 0, 600),
  /** How long to wait for ownership to settle after each restart before going on (not settled = a finding, not an abort). */
  settleTimeoutSeconds: numberArg("settle-timeout-seconds", 45, 5, 600),
  tailSeconds: numberArg("tail-seconds", 10, 3, 600),
  /** Requests in flight at most (all nodes together). */
  connections: numberArg("connections", 24, 1, 1024),
  /** Target requests/s over all nodes; 0 = closed loop (as fast as the cluster answers). */
  rate: numberArg("rate", 0, 0, 100_000),
  nodes: numberArg("nodes", 3, 2, 6),
  envelopes: numberArg("envelopes", 60_000, 1000, 1_000_000),
  recipients: numberArg("recipients", 48, 3, 1000),
  partitions: numberArg("partitions", 64, 3, 1024),
  out: argValue("out", join(tmpdir(), `haven-bench-chaos-${new Date().toISOString().replace(/[:.]/g, "-")}.svg`)),
  fast: process.argv.includes("--fast"),
};
const TIMING = opts.fast ? TIMINGS.fast : TIMINGS.prod;
const SETTLE_TIMEOUT_MS = 90_000;
const GOAL = { perSec: 10_000, p99Ms: 50 };

const log = (s: string) => console.log(s);
const r2 = (n: number) => (Number.isFinite(n) ? round(n, 2) : null);

interface FaultEvent extends PlotFault {
  kind: "partition" | "restart";
  node: string;
  /** For a restart: when ownership had settled again after the node was back. */
  settledSec?: number;
}

function phase(f: WindowFigures) {
  return { seconds: f.seconds, avg_per_sec: r2(f.avgPerSec), min_per_sec: r2(f.minPerSec), p50_ms: r2(f.p50Ms), p99_ms: r2(f.p99Ms), errors: f.errors };
}

async function sleepUntilSec(lg: Loadgen, sec: number): Promise<void> {
  const ms = lg.startAbsMs + sec * 1000 - nowAbsMs();
  if (ms > 0) await Bun.sleep(ms);
}

async function main(): Promise<Record<string, unknown>> {
  const workDir = mkdtempSync(join(tmpdir(), "haven-bench-chaos-"));
  let cluster: ChaosCluster | undefined;
  let lg: Loadgen | undefined;
  try {
    const t0 = performance.now();
    const { keysFile, did } = await ChaosCluster.identity(workDir);
    const bodiesFile = join(workDir, "bodies.txt");
    const genWorld = new BenchWorld("http://unused.invalid", did);
    // Envelopes are built while the cluster starts (they need only the mediator DID).
    const [c, parties] = await Promise.all([
      ChaosCluster.start({ nodes: opts.nodes, partitions: opts.partitions, timings: TIMING, workDir }, keysFile, did),
      buildEnvelopes(genWorld, opts.recipients, opts.envelopes, bodiesFile),
    ]);
    cluster = c;
    log(`cluster up and ${fmtInt(opts.envelopes)} envelopes built in ${round((performance.now() - t0) / 1000)} s: 3 NATS servers (R3) + ${opts.nodes} nodes, ${opts.partitions} partitions, timings ${JSON.stringify(TIMING)}`);
    const world = new BenchWorld(c.nodes[0]!.proc.url, did);
    for (const [k, v] of genWorld.secrets.keys) world.secrets.keys.set(k, v);
    const enrolled = parties.map((p) => new BenchParty(world, p.did));
    await enrolAll(enrolled);

    lg = await Loadgen.start({ nodes: c.nodes.map((n) => n.proc.url), bodiesFile, connections: opts.connections, ratePerSec: opts.rate, requestTimeoutMs: 10_000, probeIntervalMs: 250 }, workDir);
    const loadgen = lg;
    loadgen.onSecond = (r, ready) => {
      if (r.sec % 5 !== 4) return;
      const e = errorCount(r);
      log(`  t=${String(r.sec + 1).padStart(4)} s  ${fmtInt(r.accepted).padStart(6)} 202/s  p50 ${round(r.latency.percentile(0.5), 1)} ms  p99 ${round(r.latency.percentile(0.99), 1)} ms${e > 0 ? `  errors ${JSON.stringify(r.errors)}` : ""}  ready ${ready.map((x) => (x ? "+" : "-")).join("")}`);
    };
    const faults: FaultEvent[] = [];
    const victim = c.proxiedNode;

    // 1. warm-up + baseline, 2. the last node cut off from every NATS server, 3. gap, 4. rolling restart, 5. tail.
    const partitionAt = opts.warmupSeconds + opts.baselineSeconds;
    await sleepUntilSec(loadgen, partitionAt);
    const cutAbs = nowAbsMs();
    c.cutFromNats();
    log(`${victim.id} cut off from NATS`);
    await sleepUntilSec(loadgen, loadgen.secOf(cutAbs) + opts.partitionSeconds);
    c.healFromNats();
    const healAbs = nowAbsMs();
    faults.push({ kind: "partition", node: victim.id, label: `${victim.id} cut from NATS`, fromSec: loadgen.secOf(cutAbs), toSec: loadgen.secOf(healAbs) });
    log(`${victim.id} reconnected to NATS`);
    await sleepUntilSec(loadgen, loadgen.secOf(healAbs) + opts.gapSeconds);

    for (const n of c.nodes) {
      const fromAbs = nowAbsMs();
      const code = await n.proc.kill("SIGTERM"); // graceful: readiness fails, partitions handed over, then exit
      const exitedAbs = nowAbsMs();
      await n.proc.restart();
      const readyAbs = nowAbsMs();
      const settledOk = await until(`ownership settled after restarting ${n.id}`, opts.settleTimeoutSeconds * 1000, () => c.settled()).then(
        () => true,
        () => false,
      );
      const settledAbs = nowAbsMs();
      faults.push({ kind: "restart", node: n.id, label: `restart ${n.id}`, fromSec: loadgen.secOf(fromAbs), toSec: loadgen.secOf(readyAbs), ...(settledOk ? { settledSec: loadgen.secOf(settledAbs) } : {}) });
      log(`${n.id}: SIGTERM exit ${code} after ${round((exitedAbs - fromAbs) / 1000, 2)} s, ready again after ${round((readyAbs - fromAbs) / 1000, 2)} s, ownership ${settledOk ? `settled after ${round((settledAbs - fromAbs) / 1000, 2)} s` : `NOT settled within ${opts.settleTimeoutSeconds} s`}`);
      await Bun.sleep(opts.restartGapSeconds * 1000);
    }
    const lastFaultEnd = loadgen.secOf(nowAbsMs());
    await sleepUntilSec(loadgen, Math.max(opts.seconds, lastFaultEnd + opts.tailSeconds));
    const stopSec = loadgen.secOf(nowAbsMs());
    const result = await loadgen.stop();
    lg = undefined;
    const series = result.series.filter((r) => r.sec + 1 <= stopSec); // the last, partial second is not a full second

    // Loss: once every outbox is relayed and ownership settled, each mailbox must hold its acknowledged envelopes.
    // If the cluster does not settle, the check cannot be made: lost is null and the reason is reported.
    let loss: LossReport | null = null;
    let lossError: string | null = null;
    try {
      await until("outboxes relayed", SETTLE_TIMEOUT_MS, () => c.outboxesEmpty());
      await until("ownership settled before counting", SETTLE_TIMEOUT_MS, () => c.settled());
      loss = lossReport(expectedPerRecipient(result.acceptedSet, opts.envelopes, opts.recipients), await mailboxCounts(enrolled));
    } catch (e) {
      lossError = e instanceof Error ? e.message : String(e);
    }

    // Figures.
    const measured = series.filter((r) => r.sec >= opts.warmupSeconds);
    const baselineRecs = secondsWithin(series, opts.warmupSeconds, faults[0]!.fromSec);
    const base = baselineOf(baselineRecs);
    const partition = faults[0]!;
    const restarts = faults.filter((f) => f.kind === "restart");
    const restartFrom = restarts[0]!.fromSec;
    const restartTo = lastFaultEnd;
    const phases = {
      baseline: phase(windowFigures(baselineRecs)),
      partitioned: phase(windowFigures(secondsWithin(series, partition.fromSec, partition.toSec))),
      after_partition: phase(windowFigures(secondsWithin(series, partition.toSec, restartFrom))),
      rolling_restart: phase(windowFigures(secondsWithin(series, restartFrom, restartTo))),
      tail: phase(windowFigures(secondsWithin(series, restartTo, stopSec))),
    };
    const recoveries = faults.map((f, i) => {
      const limit = faults[i + 1]?.fromSec ?? series.length;
      const rec = recoverySeconds(series, f.toSec, base, Math.max(f.toSec, limit));
      return { fault: f.label, from_s: r2(f.fromSec), to_s: r2(f.toSec), ...(f.settledSec !== undefined ? { settled_s: r2(f.settledSec) } : {}), recovery_s: rec === null ? null : r2(rec) };
    });
    const overall = windowFigures(measured);
    const worst = worstSecond(measured);
    const errors = errorsByKind(measured);
    const secondsMeetingGoal = measured.filter((r: SecondRecord) => r.accepted >= GOAL.perSec && r.latency.percentile(0.99) < GOAL.p99Ms).length;

    writeFileSync(
      opts.out,
      renderPlot(
        series.map((r) => ({ sec: r.sec, perSec: r.accepted, p99Ms: r.latency.percentile(0.99) })),
        faults.map((f) => ({ label: f.label, fromSec: f.fromSec, toSec: f.settledSec ?? f.toSec })),
        { title: `Haven bench:chaos: ${opts.nodes} nodes, 3 NATS servers, ${opts.rate > 0 ? `${opts.rate} req/s offered` : `${opts.connections} connections closed loop`}`, goalP99Ms: GOAL.p99Ms },
      ),
    );
    log(`baseline: ${round(base.perSec)} 202/s (median second), p99 ${round(base.p99Ms, 1)} ms; recovery = first ${DEFAULT_RULE.holdSeconds} consecutive seconds with >= ${DEFAULT_RULE.minThroughputRatio * 100}% of it and p99 <= ${DEFAULT_RULE.maxP99Ratio}x`);
    for (const [name, p] of Object.entries(phases)) log(`  ${name.padEnd(16)} ${JSON.stringify(p)}`);
    for (const r of recoveries) log(`  ${r.fault.padEnd(26)} recovery ${r.recovery_s === null ? "NOT within the window" : `${r.recovery_s} s`}`);
    log(loss ? `loss check: ${loss.expected} distinct envelopes acknowledged, ${loss.stored} stored, lost ${loss.lost}, extra ${loss.extra}` : `loss check NOT made: ${lossError}`);
    log(`plot: ${opts.out}`);
    return {
      bench: "chaos",
      nodes: opts.nodes,
      nats_servers: 3,
      mode: opts.rate > 0 ? { rate_per_sec: opts.rate, max_in_flight: opts.connections } : { closed_loop_connections: opts.connections },
      timings: TIMING,
      load_seconds: r2(stopSec),
      requests: result.requests,
      accepted: result.accepted,
      distinct_envelopes: opts.envelopes,
      baseline: { per_sec: base.perSec, p99_ms: r2(base.p99Ms) },
      phases,
      overall: { avg_per_sec: r2(overall.avgPerSec), min_per_sec: overall.minPerSec, p50_ms: r2(overall.p50Ms), p99_ms: r2(overall.p99Ms) },
      worst_second: worst === undefined ? null : { sec: worst.sec, p50_ms: r2(worst.p50Ms), p99_ms: r2(worst.p99Ms) },
      errors,
      recovery_rule: { min_throughput_ratio: DEFAULT_RULE.minThroughputRatio, max_p99_ratio: DEFAULT_RULE.maxP99Ratio, hold_s: DEFAULT_RULE.holdSeconds },
      recoveries,
      lost: loss?.lost ?? null,
      loss: loss ?? { error: lossError },
      goal: { ...GOAL, seconds_meeting_goal: secondsMeetingGoal, of_seconds: measured.length, met: secondsMeetingGoal === measured.length },
      plot: opts.out,
    };
  } finally {
    lg?.kill();
    await cluster?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

try {
  const out = await main();
  console.log(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  console.error(`bench:chaos failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
}
