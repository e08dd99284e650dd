// `bun run bench:jetstream`: the raw JetStream R3 publish ceiling on this machine (no Haven), the yardstick for bench:cluster.
// Starts a 3-server nats-server cluster, creates one file-backed stream with 3 replicas and a dedup window (as Haven's
// mail stream), and publishes distinct payloads of forward size with a Nats-Msg-Id from one connection per server,
// each keeping `--inflight` publishes awaiting their PubAck. Bounded in time; loopback only; ends with one JSON line.
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { startNatsCluster } from "../test/support/nats-cluster.ts";
import { fmtInt, numberArg } from "./lib/bench.ts";
import { cpuMsOf, round } from "./lib/proc-stats.ts";

const opts = {
  durationSeconds: numberArg("duration", 8, 1, 60),
  warmupSeconds: numberArg("warmup", 2, 0, 30),
  payloadBytes: numberArg("payload", 4_600, 16, 1_000_000),
  inflight: numberArg("inflight", 64, 1, 4_096),
  connections: numberArg("connections", 3, 1, 3),
  replicas: numberArg("replicas", 3, 1, 3),
  subjects: numberArg("subjects", 64, 1, 4_096),
  /** 1: every subject (partition) also has an ordered consumer reading it back, as each partition's owner does. */
  consume: numberArg("consume", 1, 0, 1),
};

const nats = await startNatsCluster({ servers: 3 });
const latenciesMs: number[] = [];
let acked = 0;
let failed = 0;
try {
  const admin = await connect({ servers: nats.servers[0]!.url });
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({
    name: "CEILING",
    subjects: ["ceiling.>"],
    storage: StorageType.File,
    num_replicas: opts.replicas,
    retention: RetentionPolicy.Limits,
    duplicate_window: 120_000_000_000, // 2 min in ns, like a production dedup window
  });
  const conns = await Promise.all(nats.servers.slice(0, opts.connections).map((s) => connect({ servers: s.url })));
  // One ordered consumer per subject, spread over the connections: the owners' replay of haven.mail.<p>.
  let consumed = 0;
  const readers = opts.consume === 0 ? [] : await Promise.all(
    Array.from({ length: opts.subjects }, async (_, p) => {
      const consumer = await jetstream(conns[p % conns.length]!).consumers.get("CEILING", { filter_subjects: `ceiling.${p}` });
      return consumer.consume({ max_messages: 1024 });
    }),
  );
  const reading = readers.map(async (msgs) => {
    for await (const _ of msgs) consumed++;
  });
  const payload = new Uint8Array(opts.payloadBytes).fill(0x7b);
  let seq = 0;
  let measuring = false;
  let stopAt = 0;
  const publisher = async (c: number): Promise<void> => {
    const js = jetstream(conns[c]!);
    while (performance.now() < stopAt) {
      const n = seq++;
      const t0 = performance.now();
      try {
        await js.publish(`ceiling.${n % opts.subjects}`, payload, { msgID: `m${n}` });
        if (measuring) {
          acked++;
          latenciesMs.push(performance.now() - t0);
        }
      } catch {
        if (measuring) failed++;
      }
    }
  };
  const phase = async (seconds: number) => {
    stopAt = performance.now() + seconds * 1000;
    const workers: Promise<void>[] = [];
    for (let c = 0; c < conns.length; c++) for (let i = 0; i < opts.inflight; i++) workers.push(publisher(c));
    await Promise.all(workers);
  };
  if (opts.warmupSeconds > 0) await phase(opts.warmupSeconds);
  measuring = true;
  const natsCpu0 = nats.servers.map((s) => cpuMsOf(s.pid));
  const selfCpu0 = process.cpuUsage();
  const t0 = performance.now();
  await phase(opts.durationSeconds);
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  // CPU the servers and this publisher used per acked publish: what Haven's nodes would have left on this machine.
  const natsCpuMs = nats.servers.reduce((sum, s, i) => sum + (cpuMsOf(s.pid) - natsCpu0[i]!), 0);
  const self = process.cpuUsage(selfCpu0);
  const selfCpuMs = (self.user + self.system) / 1000;
  for (const r of readers) r.stop();
  await Promise.allSettled(reading);
  await Promise.all(conns.map((c) => c.close()));
  await admin.close();

  latenciesMs.sort((a, b) => a - b);
  const pct = (p: number) => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(latenciesMs.length * p))] ?? 0;
  const perSec = acked / seconds;
  console.log(
    `jetstream R${opts.replicas} ceiling: ${fmtInt(perSec)} acked publishes/s of ${fmtInt(opts.payloadBytes)} B  p50 ${round(pct(0.5), 2)} ms  p99 ${round(pct(0.99), 2)} ms  (${opts.connections} connections x ${opts.inflight} in flight, ${failed} failed; ${opts.consume === 1 ? `read back by ${opts.subjects} ordered consumers: ${fmtInt(consumed)} in total` : "not read back"})`,
  );
  console.log(
    `    CPU per acked publish: nats-servers ${round((natsCpuMs * 1000) / acked, 1)} us (${round(natsCpuMs / 1000 / seconds, 2)} cores busy), publisher ${round((selfCpuMs * 1000) / acked, 1)} us (${round(selfCpuMs / 1000 / seconds, 2)} cores)`,
  );
  console.log(
    JSON.stringify({
      bench: "jetstream-ceiling",
      replicas: opts.replicas,
      payload_bytes: opts.payloadBytes,
      connections: opts.connections,
      inflight: opts.inflight,
      duration_s: round(seconds, 2),
      publishes_per_sec: Math.round(perSec),
      p50_ms: round(pct(0.5), 2),
      p99_ms: round(pct(0.99), 2),
      failed,
      consumers: readers.length,
      nats_cpu_us_per_publish: round((natsCpuMs * 1000) / acked, 1),
      nats_cores_busy: round(natsCpuMs / 1000 / seconds, 2),
      publisher_cpu_us_per_publish: round((selfCpuMs * 1000) / acked, 1),
    }),
  );
} finally {
  await nats.stop();
}
