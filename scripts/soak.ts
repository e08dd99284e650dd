// `bun run soak -- --minutes 30`: steady forward load on a 3-node cluster with a fault every N seconds (kill -9 and
// restart of the last node, that node cut off from NATS, a NATS server restart, in turn); samples each node's RSS and
// open fds; asserts (exit 1) that they do not grow on the nodes that are never restarted and that nothing accepted is lost.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmtInt, numberArg } from "./lib/bench.ts";
import { BenchParty, BenchWorld } from "./lib/bench-party.ts";
import { round } from "./lib/proc-stats.ts";
import { buildEnvelopes, ChaosCluster, enrolAll, mailboxCounts, TIMINGS, until } from "./lib/chaos/cluster.ts";
import { checkGrowth, type GrowthTolerance } from "./lib/chaos/growth.ts";
import { Loadgen } from "./lib/chaos/loadgen-client.ts";
import { nowAbsMs } from "./lib/chaos/loadgen.ts";
import { expectedPerRecipient, lossReport, type LossReport } from "./lib/chaos/loss.ts";
import { sampleNode, type ProcSample } from "./lib/chaos/proc-sample.ts";
import { errorsByKind, windowFigures } from "./lib/chaos/series.ts";

const minutes = numberArg("minutes", 30, 0.5, 24 * 60);
const totalSeconds = minutes * 60;
const opts = {
  minutes,
  rate: numberArg("rate", 100, 1, 10_000),
  connections: numberArg("connections", 16, 1, 1024),
  faultEverySeconds: numberArg("fault-every", Math.round(Math.min(60, Math.max(15, totalSeconds / 6))), 5, 3600),
  sampleSeconds: numberArg("sample-seconds", Math.round(Math.min(60, Math.max(5, totalSeconds / 12))), 1, 600),
  partitionSeconds: numberArg("partition-seconds", 10, 1, 600),
  /** Distinct envelopes; beyond rate x duration they are re-sent (forwards dedup, so mailboxes stop growing). */
  envelopes: numberArg("envelopes", Math.min(60_000, Math.max(2_000, Math.ceil(100 * totalSeconds * 1.1))), 1000, 1_000_000),
  recipients: numberArg("recipients", 48, 3, 1000),
  partitions: numberArg("partitions", 32, 3, 1024),
  fast: process.argv.includes("--fast"),
};
const TIMING = opts.fast ? TIMINGS.fast : TIMINGS.prod;
const SETTLE_TIMEOUT_MS = 120_000;
/** Samples in the first WARMUP_FRACTION of the run are start-up (JIT, caches, pools filling), not growth. */
const WARMUP_FRACTION = 0.2;
const TOLERANCE: Record<"rssMb" | "fds", GrowthTolerance> = {
  rssMb: { relative: 0.25, absolute: 32 },
  fds: { relative: 0.1, absolute: 10 },
};

const log = (s: string) => console.log(s);
const r2 = (n: number) => (Number.isFinite(n) ? round(n, 2) : null);

type FaultKind = "kill9" | "partition" | "nats_restart";
const FAULTS: FaultKind[] = ["kill9", "partition", "nats_restart"];

async function main(): Promise<{ ok: boolean; out: Record<string, unknown> }> {
  const workDir = mkdtempSync(join(tmpdir(), "haven-soak-"));
  let cluster: ChaosCluster | undefined;
  let lg: Loadgen | undefined;
  try {
    const { keysFile, did } = await ChaosCluster.identity(workDir);
    const bodiesFile = join(workDir, "bodies.txt");
    const genWorld = new BenchWorld("http://unused.invalid", did);
    const [c, parties] = await Promise.all([
      ChaosCluster.start({ nodes: 3, partitions: opts.partitions, timings: TIMING, workDir }, keysFile, did),
      buildEnvelopes(genWorld, opts.recipients, opts.envelopes, bodiesFile),
    ]);
    cluster = c;
    const world = new BenchWorld(c.nodes[0]!.proc.url, did);
    for (const [k, v] of genWorld.secrets.keys) world.secrets.keys.set(k, v);
    const enrolled = parties.map((p) => new BenchParty(world, p.did));
    await enrolAll(enrolled);
    const victim = c.proxiedNode;
    const stable = c.nodes.filter((n) => n !== victim);
    log(`soak: ${minutes} min, ${opts.rate} forwards/s offered, a fault every ${opts.faultEverySeconds} s (${FAULTS.join(" -> ")}; victim ${victim.id}), samples every ${opts.sampleSeconds} s; growth checked on ${stable.map((n) => n.id).join(", ")}`);

    lg = await Loadgen.start({ nodes: c.nodes.map((n) => n.proc.url), bodiesFile, connections: opts.connections, ratePerSec: opts.rate, requestTimeoutMs: 10_000, probeIntervalMs: 250 }, workDir);
    const loadgen = lg;
    const endAbs = loadgen.startAbsMs + totalSeconds * 1000;
    const samples = new Map<string, { sec: number; s: ProcSample }[]>(c.nodes.map((n) => [n.id, []]));
    const faultsDone: { kind: FaultKind; atSec: number; target: string; tookSec: number }[] = [];
    let faultError: string | undefined;

    // Sampler: on its own timer so a long fault (a restart) does not delay it.
    const sampler = (async () => {
      for (let k = 1; loadgen.startAbsMs + k * opts.sampleSeconds * 1000 <= endAbs; k++) {
        const wait = loadgen.startAbsMs + k * opts.sampleSeconds * 1000 - nowAbsMs();
        if (wait > 0) await Bun.sleep(wait);
        const sec = round(loadgen.secOf(nowAbsMs()));
        const got = await Promise.all(c.nodes.map((n) => sampleNode(n.proc.pid, n.proc.url)));
        c.nodes.forEach((n, i) => samples.get(n.id)!.push({ sec, s: got[i]! }));
        const recent = loadgen.seconds.slice(-opts.sampleSeconds);
        const f = windowFigures(recent);
        log(`  t=${String(Math.round(sec)).padStart(5)} s  ${round(f.avgPerSec)} 202/s p99 ${round(f.p99Ms, 1)} ms errors ${f.errors} | ${c.nodes.map((n, i) => `${n.id} rss ${round(got[i]!.rssMb)} MiB fds ${got[i]!.fds}`).join(" | ")}`);
      }
    })();

    // Fault driver: one fault every faultEverySeconds, in turn; each waits for the cluster to settle again.
    for (let k = 1; ; k++) {
      const atAbs = loadgen.startAbsMs + k * opts.faultEverySeconds * 1000;
      // Leave the tail fault-free; a slow recovery can push the schedule past the end, so check the clock too.
      if (Math.max(atAbs, nowAbsMs()) + opts.partitionSeconds * 1000 >= endAbs - 5_000) break;
      const wait = atAbs - nowAbsMs();
      if (wait > 0) await Bun.sleep(wait);
      const kind = FAULTS[(k - 1) % FAULTS.length]!;
      const t = nowAbsMs();
      let target = victim.id;
      try {
        if (kind === "kill9") {
          await victim.proc.kill("SIGKILL");
          await victim.proc.restart();
        } else if (kind === "partition") {
          c.cutFromNats();
          await Bun.sleep(Math.min(opts.partitionSeconds, opts.faultEverySeconds / 2) * 1000);
          c.healFromNats();
        } else {
          const server = c.nats.servers[Math.floor((k - 1) / FAULTS.length) % c.nats.servers.length]!;
          target = server.name;
          await server.restart({ timeoutMs: 60_000 });
        }
        await until(`settled after ${kind}`, SETTLE_TIMEOUT_MS, () => c.settled());
      } catch (e) {
        faultError = `${kind} on ${target}: ${e instanceof Error ? e.message : String(e)}`;
        log(`  fault failed: ${faultError}`);
        break;
      }
      const tookSec = (nowAbsMs() - t) / 1000;
      faultsDone.push({ kind, atSec: round(loadgen.secOf(t)), target, tookSec: round(tookSec, 2) });
      log(`  fault ${kind} on ${target} at t=${round(loadgen.secOf(t))} s, settled after ${round(tookSec, 2)} s`);
    }
    await sampler;
    const wait = endAbs - nowAbsMs();
    if (wait > 0) await Bun.sleep(wait);
    const result = await loadgen.stop();
    lg = undefined;

    let loss: LossReport | null = null;
    let lossError: string | null = null;
    try {
      await until("outboxes relayed", SETTLE_TIMEOUT_MS, () => c.outboxesEmpty());
      await until("ownership settled before counting", SETTLE_TIMEOUT_MS, () => c.settled());
      loss = lossReport(expectedPerRecipient(result.acceptedSet, opts.envelopes, opts.recipients), await mailboxCounts(enrolled));
    } catch (e) {
      lossError = e instanceof Error ? e.message : String(e);
    }

    const growth: Record<string, Record<string, unknown>> = {};
    let growthOk = true;
    for (const n of c.nodes) {
      const ss = samples.get(n.id)!;
      const warmupCount = ss.filter((x) => x.sec < totalSeconds * WARMUP_FRACTION).length;
      const per: Record<string, unknown> = { checked: n !== victim, samples: ss.length, warmup_samples: warmupCount };
      for (const metric of ["rssMb", "fds"] as const) {
        const v = checkGrowth(ss.map((x) => x.s[metric]), warmupCount, TOLERANCE[metric]);
        per[metric] = { ok: v.ok, first_median: r2(v.firstMedian), last_median: r2(v.lastMedian), limit: r2(v.limit), ...(v.reason ? { reason: v.reason } : {}) };
        if (n !== victim && !v.ok) growthOk = false;
      }
      const last = ss[ss.length - 1]?.s;
      per.last = last ? { rss_mb: r2(last.rssMb), fds: last.fds, metrics_rss_mb: r2(last.metricsRssMb), metrics_open_fds: last.metricsOpenFds, heap_used_mb: r2(last.heapUsedMb) } : null;
      growth[n.id] = per;
    }
    const measured = result.series.filter((r) => r.sec < totalSeconds);
    const overall = windowFigures(measured);
    const ok = growthOk && loss !== null && loss.lost === 0 && faultError === undefined;
    log(loss ? `loss check: ${fmtInt(loss.expected)} distinct envelopes acknowledged, ${fmtInt(loss.stored)} stored, lost ${loss.lost}, extra ${loss.extra}` : `loss check NOT made: ${lossError}`);
    log(`growth (median of the last third vs the first third after ${WARMUP_FRACTION * 100}% warm-up; rss +${TOLERANCE.rssMb.relative * 100}% +${TOLERANCE.rssMb.absolute} MiB, fds +${TOLERANCE.fds.relative * 100}% +${TOLERANCE.fds.absolute}): ${growthOk ? "ok" : "GROWTH"}`);
    for (const [id, g] of Object.entries(growth)) log(`  ${id}: ${JSON.stringify(g)}`);
    return {
      ok,
      out: {
        bench: "soak",
        ok,
        minutes,
        rate_per_sec: opts.rate,
        timings: TIMING,
        fault_every_s: opts.faultEverySeconds,
        sample_every_s: opts.sampleSeconds,
        faults: faultsDone.length,
        fault_kinds: faultsDone.reduce<Record<string, number>>((m, f) => ((m[f.kind] = (m[f.kind] ?? 0) + 1), m), {}),
        fault_error: faultError ?? null,
        requests: result.requests,
        accepted: result.accepted,
        throughput: { avg_per_sec: r2(overall.avgPerSec), min_per_sec: overall.minPerSec, p50_ms: r2(overall.p50Ms), p99_ms: r2(overall.p99Ms) },
        errors: errorsByKind(measured),
        tolerance: TOLERANCE,
        growth,
        lost: loss?.lost ?? null,
        loss: loss ?? { error: lossError },
      },
    };
  } finally {
    lg?.kill();
    await cluster?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

try {
  const { ok, out } = await main();
  console.log(JSON.stringify(out));
  process.exit(ok ? 0 : 1);
} catch (e) {
  console.error(`soak failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
}
