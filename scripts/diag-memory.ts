// Memory diagnostic: the RSS bench's workload (N mailboxes, M queued forwards) against a node run through
// scripts/diag-memory-entry.ts, then where the memory is: RSS over time, JSC heap and object types before and after a full GC.
// Usage: bun run scripts/diag-memory.ts [--mailboxes 10000] [--messages 100000] [--settle-seconds 20]
//          [--env BUN_OPTIONS=--smol,MIMALLOC_PURGE_DELAY=0]   (extra node environment, comma separated)
//          [--timeline-ms 500]   (the node appends RSS / heap / external / mimalloc figures at this interval; printed at the end)
// Right after the load a report without a GC is taken too ("loaded"): what the burst leaves before anything settles.
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
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
const timelineMs = numberArg("timeline-ms", 0, 0, 60_000);
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
  HAVEN_DIAG_TIMELINE_MS: String(timelineMs),
  ...extraEnv,
};
const node = await startNodeProcess({ env, entry: "scripts/diag-memory-entry.ts", startTimeoutMs: 30_000 });
const samples: { phase: string; rssMib: number }[] = [];
/**
 * The node's biggest resident mappings from /proc/<pid>/smaps ("range [name] rss"): which allocator holds the pages
 * (mimalloc arenas, JSC's heap, SQLite's page cache all sit in anonymous mappings of recognisable sizes).
 */
function topMappings(pid: number, count = 6): string[] {
  const rows: { head: string; sizeKb: number; rssKb: number }[] = [];
  let head = "";
  let sizeKb = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) head = line;
    const size = /^Size:\s+(\d+) kB/.exec(line);
    if (size) sizeKb = Number(size[1]);
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) rows.push({ head, sizeKb, rssKb: Number(m[1]) });
  }
  rows.sort((a, b) => b.rssKb - a.rssKb);
  const lines = rows.slice(0, count).map((r) => {
    const [range = "", , , , , name = "[anon]"] = r.head.split(/\s+/);
    return `${range} ${name} size ${round(r.sizeKb / 1024)} MiB rss ${round(r.rssKb / 1024)} MiB`;
  });
  // The rest, by mapping size: many small mappings (thread stacks, per-allocation mmaps) add up unseen otherwise.
  const bySize = new Map<number, { n: number; rssKb: number }>();
  for (const r of rows.slice(count)) {
    const b = bySize.get(r.sizeKb) ?? { n: 0, rssKb: 0 };
    b.n++;
    b.rssKb += r.rssKb;
    bySize.set(r.sizeKb, b);
  }
  const rest = [...bySize.entries()].sort((a, b) => b[1].rssKb - a[1].rssKb).slice(0, count);
  for (const [kb, b] of rest) lines.push(`${b.n} mappings of ${kb} kB: rss ${round(b.rssKb / 1024)} MiB`);
  return lines;
}
/** Signals the node for a report (with a full GC, or without: the node is left as it is) and reads it. */
async function report(gc: boolean): Promise<{ before: Record<string, unknown> }> {
  if (existsSync(reportFile)) unlinkSync(reportFile);
  if (gc && existsSync(`${reportFile}.nogc`)) unlinkSync(`${reportFile}.nogc`);
  if (!gc) writeFileSync(`${reportFile}.nogc`, "");
  process.kill(node.pid, "SIGUSR2");
  const deadline = Date.now() + REPORT_TIMEOUT_MS;
  while (!existsSync(reportFile)) {
    if (Date.now() > deadline) throw new Error("no report from the node (is it running scripts/diag-memory-entry.ts?)");
    await Bun.sleep(100);
  }
  await Bun.sleep(200); // the file is written in one call; give the write a moment to land completely
  return JSON.parse(readFileSync(reportFile, "utf8")) as { before: Record<string, unknown> };
}
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
  // RSS through the burst, every 200 ms: one reading at the end lands anywhere in the GC / allocator cycle.
  const during: number[] = [];
  const sampler = setInterval(() => during.push(rssOf(node.pid).rssMb), 200);
  for (let start = 0; start < messages; start += CHUNK) {
    const bodies: string[] = [];
    for (let i = start; i < Math.min(messages, start + CHUNK); i++) bodies.push(await world.forwardFor(parties[i % parties.length]!.did, `diag ${i}`));
    const c0 = cpuMsOf(node.pid);
    await postAll(node.url, bodies, concurrency);
    queueCpuMs += cpuMsOf(node.pid) - c0;
    if ((start / CHUNK) % 10 === 9) sample(`queued ${fmtInt(start + CHUNK)}`);
  }
  clearInterval(sampler);
  sample(`queued ${fmtInt(messages)}`);
  const sorted = [...during].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  const burst = { meanMib: round(during.reduce((a, b) => a + b, 0) / Math.max(1, during.length)), p50Mib: at(0.5), p90Mib: at(0.9), maxMib: at(1) };
  console.log(`RSS during the burst (${during.length} readings): mean ${burst.meanMib}, p50 ${burst.p50Mib}, p90 ${burst.p90Mib}, max ${burst.maxMib} MiB`);
  const loaded = await report(false);
  console.log(`loaded (no GC): ${JSON.stringify({ ...loaded.before, topTypes: undefined })}`);
  console.log(`loaded, biggest mappings:\n  ${topMappings(node.pid).join("\n  ")}`);
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
  console.log(`settled, biggest mappings:\n  ${topMappings(node.pid).join("\n  ")}`);
  console.log(JSON.stringify(await report(true), null, 2));
  if (timelineMs > 0 && existsSync(`${reportFile}.timeline`)) console.log(readFileSync(`${reportFile}.timeline`, "utf8"));
  console.log(
    JSON.stringify({
      diag: "memory",
      env: extraEnv,
      mailboxes,
      messages,
      samples,
      burst,
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
