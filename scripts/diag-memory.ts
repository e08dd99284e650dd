// Memory diagnostic: the RSS bench's workload (N mailboxes, M queued forwards) against a node run through
// scripts/diag-memory-entry.ts, then where the memory is: RSS over time, JSC heap and object types before and after a full GC.
// Usage: bun run scripts/diag-memory.ts [--mailboxes 10000] [--messages 100000] [--settle-seconds 20]
//          [--env BUN_OPTIONS=--smol,MIMALLOC_PURGE_DELAY=0]   (extra node environment, comma separated)
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNodeProcess } from "../test/support/node-process.ts";
import { argValue, fmtInt, numberArg } from "./lib/bench.ts";
import { BenchWorld, pool, postAll, type BenchParty } from "./lib/bench-party.ts";
import { cpuMsOf, round, rssOf } from "./lib/proc-stats.ts";

const mailboxes = numberArg("mailboxes", 10_000, 10, 20_000);
const messages = numberArg("messages", 100_000, 100, 200_000);
const settleSeconds = numberArg("settle-seconds", 20, 0, 600);
const concurrency = numberArg("client-concurrency", 32, 1, 256);
const REPORT_TIMEOUT_MS = 30_000;
const CHUNK = 2000;

/** "A=1,B=2" -> { A: "1", B: "2" }; values may contain '=' but not ','. */
function parseEnv(spec: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of spec.split(",").filter((p) => p.length > 0)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--env: expected NAME=value, got ${pair}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

const extraEnv = parseEnv(argValue("env", ""));
const workDir = mkdtempSync(join(tmpdir(), "haven-diag-"));
const reportFile = join(workDir, "report.json");
const env = {
  RATE_LIMIT_PER_CONNECTION: "100000",
  MAILBOX_MAX_MESSAGES: "10000000",
  MAILBOX_MAX_BYTES: "1024GiB",
  LOG_LEVEL: "warn",
  HAVEN_DIAG_OUT: reportFile,
  ...extraEnv,
};
const node = await startNodeProcess({ env, entry: "scripts/diag-memory-entry.ts", startTimeoutMs: 30_000 });
const samples: { phase: string; rssMib: number }[] = [];
const sample = (phase: string) => {
  const r = rssOf(node.pid);
  samples.push({ phase, rssMib: round(r.rssMb) });
  console.log(`${phase.padEnd(28)} RSS ${round(r.rssMb)} MiB (peak ${round(r.peakRssMb)})`);
};
try {
  console.log(`node env extras: ${JSON.stringify(extraEnv)}`);
  sample("idle");
  const world = new BenchWorld(node.url, node.did);
  const parties: BenchParty[] = Array.from({ length: mailboxes }, () => world.party());
  const cpuEnrol0 = cpuMsOf(node.pid);
  await pool(parties.length, concurrency, (i) => parties[i]!.enrol());
  const enrolCpuMs = cpuMsOf(node.pid) - cpuEnrol0;
  sample(`enrolled ${fmtInt(mailboxes)}`);
  let queueCpuMs = 0;
  for (let start = 0; start < messages; start += CHUNK) {
    const bodies: string[] = [];
    for (let i = start; i < Math.min(messages, start + CHUNK); i++) bodies.push(await world.forwardFor(parties[i % parties.length]!.did, `diag ${i}`));
    const c0 = cpuMsOf(node.pid);
    await postAll(node.url, bodies, concurrency);
    queueCpuMs += cpuMsOf(node.pid) - c0;
    if ((start / CHUNK) % 10 === 9) sample(`queued ${fmtInt(start + CHUNK)}`);
  }
  sample(`queued ${fmtInt(messages)}`);
  for (let s = 5; s <= settleSeconds; s += 5) {
    await Bun.sleep(5000); // a diagnostic timeline, not a test: RSS is sampled at fixed points of idle time
    sample(`idle +${s} s`);
  }
  // The governor's forced collections (count and total pause) over the whole run: the CPU price of a GC-based fix.
  const metrics = await (await fetch(`${node.url}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1] ?? NaN);
  const forcedGcs = metric("haven_gc_forced_duration_seconds_count");
  const forcedGcSeconds = round(metric("haven_gc_forced_duration_seconds_sum"), 3);
  console.log(`forced GCs: ${forcedGcs}, ${forcedGcSeconds} s in total; node CPU ${round((enrolCpuMs + queueCpuMs) / 1000, 1)} s over enrol + queue`);
  process.kill(node.pid, "SIGUSR2");
  const deadline = Date.now() + REPORT_TIMEOUT_MS;
  while (!existsSync(reportFile)) {
    if (Date.now() > deadline) throw new Error("no report from the node (is it running scripts/diag-memory-entry.ts?)");
    await Bun.sleep(100);
  }
  await Bun.sleep(200); // the file is written in one call; give the write a moment to land completely
  const report = JSON.parse(readFileSync(reportFile, "utf8")) as Record<string, unknown>;
  console.log(JSON.stringify(report, null, 2));
  console.log(
    JSON.stringify({
      diag: "memory",
      env: extraEnv,
      mailboxes,
      messages,
      samples,
      forcedGcs,
      forcedGcSeconds,
      enrolCpuUsPerMailbox: round((enrolCpuMs * 1000) / mailboxes),
      queueCpuUsPerForward: round((queueCpuMs * 1000) / messages),
    }),
  );
} finally {
  await node.stop();
  rmSync(workDir, { recursive: true, force: true });
}
