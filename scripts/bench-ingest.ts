// `bun run bench`: forward ingest vs the raw SQLite ceiling (wrk), pickup throughput, and RSS with many queued messages.
// Modes: --mode all|ingest|pickup|rss|cpu (cpu: in-process CPU per forward beyond unpack, scripts/lib/forward-cpu.ts;
// not part of all). Loopback only; every phase is bounded in count and time. Ends with one JSON line.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, startNodeProcess, type NodeProcess } from "../test/support/node-process.ts";
import { argValue, fmtInt, numberArg } from "./lib/bench.ts";
import { BenchWorld, BT, pool, postAll, type BenchParty } from "./lib/bench-party.ts";
import { measureForwardCpu } from "./lib/forward-cpu.ts";
import { cpuMsOf, rssOf, round } from "./lib/proc-stats.ts";
import { haveWrk, runWrk, type WrkResult } from "./lib/wrk.ts";

const ENCRYPTED = "application/didcomm-encrypted+json";
const mode = argValue("mode", "all");
if (!["all", "ingest", "pickup", "rss", "cpu"].includes(mode)) throw new Error("--mode must be all|ingest|pickup|rss|cpu");
const opts = {
  durationSeconds: numberArg("duration", 8, 1, 60),
  warmupSeconds: numberArg("warmup", 2, 0, 30),
  connections: numberArg("connections", 64, 1, 1024),
  threads: numberArg("threads", 1, 1, 8),
  envelopes: numberArg("envelopes", 20_000, 100, 200_000),
  recipients: numberArg("recipients", 16, 1, 1000),
  pickupMessages: numberArg("pickup-messages", 10_000, 100, 100_000),
  // A delivery-request's limit is the client's choice; 1000 is the most one request returns (MAX_LIMIT).
  pickupBatch: numberArg("pickup-batch", 1000, 1, 1000),
  rssMailboxes: numberArg("rss-mailboxes", 10_000, 10, 20_000),
  rssMessages: numberArg("rss-messages", 100_000, 100, 200_000),
  clientConcurrency: numberArg("client-concurrency", 32, 1, 256),
  /** rss mode: how long the node rests (no requests) before the settled reading. */
  rssSettleSeconds: numberArg("rss-settle", 10, 0, 120),
};
const REPO_ROOT = resolve(import.meta.dir, "..");
/** Quotas out of the way: the bench measures throughput, not refusals. */
const NODE_ENV: Record<string, string> = {
  RATE_LIMIT_PER_CONNECTION: "100000",
  MAILBOX_MAX_MESSAGES: "10000000",
  MAILBOX_MAX_BYTES: "1024GiB",
  LOG_LEVEL: "warn",
  // --unpack-workers N: the node's UNPACK_WORKERS (forwards decrypted on worker threads); default: the node's default.
  ...(process.argv.includes("--unpack-workers") ? { UNPACK_WORKERS: String(numberArg("unpack-workers", 0, 0, 16)) } : {}),
};

const log = (s: string) => console.log(s);
const perSec = (n: number, seconds: number) => (seconds > 0 ? n / seconds : 0);

async function withNode<T>(f: (node: NodeProcess) => Promise<T>): Promise<T> {
  const node = await startNodeProcess({ env: NODE_ENV, startTimeoutMs: 30_000 });
  try {
    return await f(node);
  } finally {
    await node.stop();
  }
}

async function enrolAll(world: BenchWorld, count: number): Promise<BenchParty[]> {
  const parties = Array.from({ length: count }, () => world.party());
  await pool(parties.length, opts.clientConcurrency, (i) => parties[i]!.enrol());
  return parties;
}

async function totalQueued(parties: BenchParty[]): Promise<number> {
  let total = 0;
  await pool(parties.length, opts.clientConcurrency, async (i) => {
    const n = (await parties[i]!.ask(BT.statusRequest, {})).body.message_count as number;
    total += n; // after the await: `total += await x` would read total before awaiting and lose updates
  });
  return total;
}

/**
 * The ceiling: a bare Bun.serve + one SQLite insert per POST, in its own process, driven by the same wrk run.
 * `full`: fsync per commit, Haven's durability (the ratio's reference). `normal`: no fsync per commit, for reference.
 */
async function ceilingRun(workDir: string, bodiesFile: string, sync: "full" | "normal"): Promise<WrkResult> {
  const port = freePort();
  const proc = Bun.spawn(["bun", join(REPO_ROOT, "scripts/lib/ceiling-server.ts"), String(port), join(workDir, `ceiling-${sync}.sqlite`), sync], {
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    let seen = "";
    const deadline = Date.now() + 10_000;
    while (!seen.includes("READY")) {
      if (Date.now() > deadline) throw new Error("ceiling server did not start");
      const { value, done } = await reader.read();
      if (done) throw new Error("ceiling server exited");
      seen += new TextDecoder().decode(value);
    }
    const url = `http://127.0.0.1:${port}/`;
    if (opts.warmupSeconds > 0) await runWrk({ url, bodiesFile, connections: opts.connections, threads: opts.threads, durationSeconds: opts.warmupSeconds, contentType: ENCRYPTED, workDir });
    const result = await runWrk({ url, bodiesFile, connections: opts.connections, threads: opts.threads, durationSeconds: opts.durationSeconds, contentType: ENCRYPTED, workDir });
    return { ...result, ...{ rss: rssOf(proc.pid) } };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

async function benchIngest(workDir: string): Promise<Record<string, unknown>> {
  if (!haveWrk()) throw new Error("wrk is not installed (Debian: apt-get install -y wrk)");
  const bodiesFile = join(workDir, "forwards.txt");
  const warmFile = join(workDir, "warmup.txt");
  const nodeFigures = await withNode(async (node) => {
    const world = new BenchWorld(node.url, node.did);
    const parties = await enrolAll(world, opts.recipients);
    log(`ingest: generating ${fmtInt(opts.envelopes)} distinct forward envelopes for ${parties.length} recipients...`);
    const t0 = performance.now();
    const bodies: string[] = [];
    for (let i = 0; i < opts.envelopes; i++) bodies.push(await world.forwardFor(parties[i % parties.length]!.did, `bench ${i}`));
    const warm: string[] = [];
    for (let i = 0; i < 2000; i++) warm.push(await world.forwardFor(parties[i % parties.length]!.did, `warm ${i}`));
    writeFileSync(bodiesFile, bodies.join("\n") + "\n");
    writeFileSync(warmFile, warm.join("\n") + "\n");
    log(`ingest: generated in ${round((performance.now() - t0) / 1000)} s (${bodies[0]!.length} bytes each)`);
    const common = { url: `${node.url}/`, connections: opts.connections, threads: opts.threads, contentType: ENCRYPTED, workDir };
    if (opts.warmupSeconds > 0) await runWrk({ ...common, bodiesFile: warmFile, durationSeconds: opts.warmupSeconds });
    const queuedBefore = await totalQueued(parties);
    const cpu0 = cpuMsOf(node.pid);
    const r = await runWrk({ ...common, bodiesFile, durationSeconds: opts.durationSeconds });
    const cpuMs = cpuMsOf(node.pid) - cpu0;
    const rss = rssOf(node.pid);
    const stored = (await totalQueued(parties)) - queuedBefore;
    return { r, rss, stored, cpuMs };
  });
  log(`ingest: ceiling runs (bare Bun.serve + SQLite WAL insert per request; synchronous=FULL, then NORMAL)...`);
  const ceiling = await ceilingRun(workDir, bodiesFile, "full");
  const ceilingNormal = await ceilingRun(workDir, bodiesFile, "normal");
  const { r, rss, stored, cpuMs } = nodeFigures;
  const cpuUsPerForward = r.requests > 0 ? (cpuMs * 1000) / r.requests : NaN;
  const acceptedPerSec = perSec(r.accepted, r.durationSeconds);
  const ceilingPerSec = perSec(ceiling.accepted, ceiling.durationSeconds);
  const ratio = ceilingPerSec > 0 ? acceptedPerSec / ceilingPerSec : 0;
  const ceilingNormalPerSec = perSec(ceilingNormal.accepted, ceilingNormal.durationSeconds);
  const ratioNormal = ceilingNormalPerSec > 0 ? acceptedPerSec / ceilingNormalPerSec : 0;
  log("");
  log(`ingest  node:    ${fmtInt(acceptedPerSec)} accepted forwards/s  p50 ${round(r.p50Ms, 2)} ms  p99 ${round(r.p99Ms, 2)} ms  max ${round(r.maxMs)} ms`);
  log(`                 ${fmtInt(r.requests)} requests, ${fmtInt(r.accepted)} x 202, ${fmtInt(r.other)} other, ${r.socketErrors} socket errors; ${fmtInt(stored)} newly stored (distinct envelopes: ${fmtInt(opts.envelopes)}; repeats are deduplicated; up to ${opts.connections} warm-up requests cut off by wrk may land here too)`);
  log(`                 node RSS ${round(rss.rssMb)} MiB (peak ${round(rss.peakRssMb)} MiB); node CPU ${round(cpuUsPerForward)} us per request (user+sys, ${round(cpuMs / 1000 / r.durationSeconds, 2)} cores busy)`);
  log(`ingest  ceiling: ${fmtInt(ceilingPerSec)} inserts/s  p50 ${round(ceiling.p50Ms, 2)} ms  p99 ${round(ceiling.p99Ms, 2)} ms`);
  log(`ingest  ceiling without fsync (synchronous=NORMAL, not durable; reference only): ${fmtInt(ceilingNormalPerSec)} inserts/s  p99 ${round(ceilingNormal.p99Ms, 2)} ms`);
  log(`ratio node/ceiling: ${round(ratio, 2)}x (to the no-fsync ceiling: ${round(ratioNormal, 2)}x)   (goals: >= 10k/s, p99 <= 50 ms, >= 0.6x ceiling)`);
  return {
    forwards_per_sec: Math.round(acceptedPerSec),
    p50_ms: round(r.p50Ms, 2),
    p99_ms: round(r.p99Ms, 2),
    requests: r.requests,
    accepted: r.accepted,
    non_202: r.other,
    socket_errors: r.socketErrors,
    newly_stored: stored,
    distinct_envelopes: opts.envelopes,
    rss_mb: round(rss.rssMb),
    peak_rss_mb: round(rss.peakRssMb),
    node_cpu_us_per_request: round(cpuUsPerForward),
    ceiling_per_sec: Math.round(ceilingPerSec),
    ceiling_p50_ms: round(ceiling.p50Ms, 2),
    ceiling_p99_ms: round(ceiling.p99Ms, 2),
    ratio_to_ceiling: round(ratio, 3),
    ceiling_no_fsync_per_sec: Math.round(ceilingNormalPerSec),
    ratio_to_ceiling_no_fsync: round(ratioNormal, 3),
    connections: opts.connections,
    wrk_threads: opts.threads,
    duration_s: opts.durationSeconds,
  };
}

async function benchPickup(): Promise<Record<string, unknown>> {
  return withNode(async (node) => {
    const world = new BenchWorld(node.url, node.did);
    const [party] = await enrolAll(world, 1);
    log(`pickup: queueing ${fmtInt(opts.pickupMessages)} messages...`);
    const bodies: string[] = [];
    for (let i = 0; i < opts.pickupMessages; i++) bodies.push(await world.forwardFor(party!.did, `pickup ${i}`));
    await postAll(node.url, bodies, opts.clientConcurrency);
    const queued = (await party!.ask(BT.statusRequest, {})).body.message_count as number;
    if (queued !== opts.pickupMessages) throw new Error(`expected ${opts.pickupMessages} queued, found ${queued}`);
    // Timed: delivery-request, then messages-received for exactly those ids, until the mailbox is empty.
    const t0 = performance.now();
    const cpu0 = cpuMsOf(node.pid);
    Object.assign(party!.timings, { packMs: 0, httpMs: 0, unpackMs: 0 });
    let picked = 0;
    let rounds = 0;
    for (let left = queued; left > 0 && rounds <= opts.pickupMessages; rounds++) {
      const d = await party!.ask(BT.deliveryRequest, { limit: opts.pickupBatch });
      if (d.type !== BT.delivery) throw new Error(`expected a delivery, got ${d.type}`);
      const ids = (d.attachments ?? []).map((a) => a.id!);
      picked += ids.length;
      const st = await party!.ask(BT.messagesReceived, { message_id_list: ids });
      left = st.body.message_count as number;
    }
    const seconds = (performance.now() - t0) / 1000;
    // Node CPU per 1000 picked up: the figure that survives a shared machine (requests/s does not).
    const nodeCpuMs = cpuMsOf(node.pid) - cpu0;
    const rss = rssOf(node.pid);
    const rate = perSec(picked, seconds);
    const t = party!.timings;
    log(`pickup: ${fmtInt(picked)} messages in ${round(seconds, 2)} s = ${fmtInt(rate)} messages/s (batches of ${opts.pickupBatch}, ${rounds} round trips x2)  node RSS ${round(rss.rssMb)} MiB  (goal >= 20k/s)`);
    log(`        client pack ${round(t.packMs)} ms, waiting on HTTP ${round(t.httpMs)} ms (node work + transfer), client unpack ${round(t.unpackMs)} ms; node CPU ${round((nodeCpuMs / picked) * 1000)} ms per 1000 messages`);
    return {
      messages: picked,
      seconds: round(seconds, 3),
      messages_per_sec: Math.round(rate),
      batch: opts.pickupBatch,
      rss_mb: round(rss.rssMb),
      client_pack_ms: round(t.packMs),
      http_wait_ms: round(t.httpMs),
      client_unpack_ms: round(t.unpackMs),
      node_cpu_ms_per_1k: round((nodeCpuMs / picked) * 1000),
    };
  });
}

async function benchRss(): Promise<Record<string, unknown>> {
  return withNode(async (node) => {
    const world = new BenchWorld(node.url, node.did);
    const idle = rssOf(node.pid);
    log(`rss: enrolling ${fmtInt(opts.rssMailboxes)} mailboxes...`);
    const t0 = performance.now();
    const parties = await enrolAll(world, opts.rssMailboxes);
    log(`rss: enrolled in ${round((performance.now() - t0) / 1000)} s; queueing ${fmtInt(opts.rssMessages)} messages...`);
    const CHUNK = 2000;
    // RSS through the load every 200 ms: the reading at its end lands anywhere in a GC / allocator cycle.
    const during: number[] = [];
    const sampler = setInterval(() => during.push(rssOf(node.pid).rssMb), 200);
    try {
      for (let start = 0; start < opts.rssMessages; start += CHUNK) {
        const bodies: string[] = [];
        for (let i = start; i < Math.min(opts.rssMessages, start + CHUNK); i++) bodies.push(await world.forwardFor(parties[i % parties.length]!.did, `rss ${i}`));
        await postAll(node.url, bodies, opts.clientConcurrency);
      }
    } finally {
      clearInterval(sampler);
    }
    const loaded = rssOf(node.pid);
    const sorted = during.sort((a, b) => a - b);
    const burst = {
      meanMb: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
      p90Mb: sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))] ?? NaN,
    };
    // Spot check that the messages really are queued (a sample of mailboxes, not all 10k).
    const sample = parties.slice(0, 20);
    const perMailbox = Math.floor(opts.rssMessages / parties.length);
    for (const p of sample) {
      const n = (await p.ask(BT.statusRequest, {})).body.message_count as number;
      if (n < perMailbox) throw new Error(`mailbox holds ${n}, expected at least ${perMailbox}`);
    }
    log(`rss: ${fmtInt(opts.rssMessages)} queued across ${fmtInt(parties.length)} mailboxes, right after the load: node RSS ${round(loaded.rssMb)} MiB (anon ${round(loaded.anonMb)}, file ${round(loaded.fileMb)}; peak ${round(loaded.peakRssMb)} MiB; idle before ${round(idle.rssMb)} MiB)`);
    log(`rss: during the load (${sorted.length} readings, 200 ms apart): mean ${round(burst.meanMb)} MiB, p90 ${round(burst.p90Mb)} MiB`);
    // The same node holding the same 100k messages once the load's garbage is collected: what the queued messages
    // themselves cost (they live in SQLite, not in memory). Nothing is sent meanwhile; the memory governor runs.
    await Bun.sleep(opts.rssSettleSeconds * 1000);
    const settled = rssOf(node.pid);
    log(`rss: the same, after ${opts.rssSettleSeconds} s at rest: node RSS ${round(settled.rssMb)} MiB (anon ${round(settled.anonMb)}, file ${round(settled.fileMb)})  (goal <= 150 MB)`);
    return {
      mailboxes: parties.length,
      queued: opts.rssMessages,
      rss_mb: round(loaded.rssMb),
      peak_rss_mb: round(loaded.peakRssMb),
      load_mean_rss_mb: round(burst.meanMb),
      load_p90_rss_mb: round(burst.p90Mb),
      idle_rss_mb: round(idle.rssMb),
      settled_rss_mb: round(settled.rssMb),
      rss_anon_mb: round(loaded.anonMb),
      rss_file_mb: round(loaded.fileMb),
      settle_s: opts.rssSettleSeconds,
      seconds: round((performance.now() - t0) / 1000),
    };
  });
}

const workDir = mkdtempSync(join(tmpdir(), "haven-bench-"));
const figures: Record<string, unknown> = { bench: "haven-ingest", mode, cpus: navigator.hardwareConcurrency, bun: Bun.version, unpack_workers: Number(NODE_ENV.UNPACK_WORKERS ?? 0) };
try {
  if (mode === "all" || mode === "ingest") figures.ingest = await benchIngest(workDir);
  if (mode === "all" || mode === "pickup") figures.pickup = await benchPickup();
  if (mode === "all" || mode === "rss") figures.rss = await benchRss();
  if (mode === "cpu") {
    const r = await measureForwardCpu({ driver: "memory", forwards: 3000, rounds: 5, concurrency: opts.connections, recipients: opts.recipients });
    log(`cpu: per forward (median of 5 runs, memory storage): bare unpackForward ${round(r.bareUnpackUs)} us, core.receive ${round(r.coreReceiveUs)} us, app.handle ${round(r.appHandleUs)} us; beyond unpack ${round(r.overheadUs)} us`);
    figures.cpu = { bare_unpack_us: round(r.bareUnpackUs), core_receive_us: round(r.coreReceiveUs), app_handle_us: round(r.appHandleUs), overhead_us: round(r.overheadUs) };
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
console.log(JSON.stringify(figures));
