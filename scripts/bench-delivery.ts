// `bun run bench:delivery`: webhook events/s delivered by a 3-node cluster (3 NATS servers, JetStream R3) to a fast
// local endpoint, and the distributed breaker's cost per call (acquire + release) with the in-memory store vs NATS KV.
// Loopback only, bounded in time. Ends with one JSON line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DistributedBreaker, KvBreakerStore, MemoryBreakerStore, destinationOf, type BreakerStore } from "../src/delivery/index.ts";
import { loadOrCreateIdentityFile } from "../src/didcomm/identity/index.ts";
import { startNatsCluster, startNatsServer, type NatsCluster } from "../test/support/nats-cluster.ts";
import { startNodeProcess, type NodeProcess } from "../test/support/node-process.ts";
import { fmtInt, numberArg } from "./lib/bench.ts";
import { BenchParty, BenchWorld, pool, postAll } from "./lib/bench-party.ts";
import { round } from "./lib/proc-stats.ts";

const opts = {
  events: numberArg("events", 5000, 100, 100_000),
  recipients: numberArg("recipients", 24, 3, 1000),
  partitions: numberArg("partitions", 64, 3, 1024),
  /** POSTs in flight per node while loading forwards. */
  connections: numberArg("connections", 16, 1, 256),
  /** DELIVERY_CONCURRENCY_PER_DESTINATION on every node (production default 4). */
  concurrency: numberArg("concurrency", 4, 1, 1000),
  /** acquire+release pairs per breaker case. */
  breakerCalls: numberArg("breaker-calls", 3000, 100, 1_000_000),
};
const ADMIN_TOKEN = "bench-delivery-admin-token-0123456789";
const PUBLIC_URL = "http://haven.bench.test";
const NODE_ENV = {
  RATE_LIMIT_PER_CONNECTION: "100000",
  MAILBOX_MAX_MESSAGES: "10000000",
  MAILBOX_MAX_BYTES: "1024GiB",
  LOG_LEVEL: "warn",
  NATS_REPLICAS: "3",
  ADMIN_TOKEN,
  WEBHOOK_COALESCE_MS: "0",
  HEARTBEAT_INTERVAL_MS: "250",
  SUSPECT_AFTER_MS: "1000",
  DEAD_AFTER_MS: "2000",
  LEASE_TTL_MS: "3000",
};
const DELIVERY_TIMEOUT_MS = 120_000;
const log = (s: string) => console.log(s);

async function until(what: string, timeoutMs: number, cond: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(20);
  }
}

async function settled(nodes: { proc: NodeProcess }[]): Promise<boolean> {
  const served = new Map<number, number>();
  for (const n of nodes) {
    const s = (await (await fetch(`${n.proc.url}/cluster/status`)).json().catch(() => null)) as { live: string[]; owned: { partition: number; serving: boolean }[] } | null;
    if (s === null || s.live.length !== nodes.length) return false;
    for (const o of s.owned) if (o.serving) served.set(o.partition, (served.get(o.partition) ?? 0) + 1);
  }
  return served.size === opts.partitions && [...served.values()].every((c) => c === 1);
}

/** Part 1: forwards POSTed through all 3 nodes; every one yields one webhook event; the endpoint counts arrivals. */
async function clusterThroughput(): Promise<Record<string, number>> {
  const workDir = mkdtempSync(join(tmpdir(), "haven-bench-delivery-"));
  const keysFile = join(workDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  // The fast endpoint: answers 200 at once and counts; arrival times of the first and last event.
  let received = 0;
  let firstAtMs = 0;
  let lastAtMs = 0;
  /** Idempotency key -> arrival times: a key seen twice is a duplicate delivery. */
  const keys = new Map<string, number[]>();
  const endpoint = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      await req.arrayBuffer();
      const key = req.headers.get("idempotency-key") ?? "";
      keys.set(key, [...(keys.get(key) ?? []), performance.now()]);
      const now = performance.now();
      if (received++ === 0) firstAtMs = now;
      lastAtMs = now;
      return new Response("ok");
    },
  });
  let nats: NatsCluster | undefined;
  const nodes: { id: string; proc: NodeProcess }[] = [];
  try {
    nats = await startNatsCluster({ servers: 3 });
    const urls = nats.urls.join(",");
    nodes.push(
      ...(await Promise.all(
        ["node-a", "node-b", "node-c"].map(async (id) => ({
          id,
          proc: await startNodeProcess({
            // BENCH_ECHO=1 shows the nodes' logs (warnings about failed state writes, ownership moves).
            echo: process.env.BENCH_ECHO === "1",
            startTimeoutMs: 60_000,
            env: { ...NODE_ENV, DELIVERY_CONCURRENCY_PER_DESTINATION: String(opts.concurrency), NODE_ID: id, PARTITIONS: String(opts.partitions), NATS_URL: urls, MEDIATOR_KEYS_FILE: keysFile, PUBLIC_URL },
          }),
        })),
      )),
    );
    await until("ownership settled on 3 nodes", 60_000, () => settled(nodes));
    const world = new BenchWorld(nodes[0]!.proc.url, nodes[0]!.proc.did);
    const parties: BenchParty[] = Array.from({ length: opts.recipients }, () => world.party());
    await pool(parties.length, 8, (i) => parties[i]!.enrol());
    await pool(parties.length, 8, async (i) => {
      const via = nodes[i % nodes.length]!;
      const res = await fetch(`${via.proc.url}/admin/webhooks`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ recipient_did: parties[i]!.did, url: `http://127.0.0.1:${endpoint.port}/hook/${i}`, secret: "bench-webhook-secret-0123456789" }),
      });
      if (res.status !== 200) throw new Error(`PUT /admin/webhooks: ${res.status} ${await res.text()}`);
    });
    log(`generating ${fmtInt(opts.events)} forward envelopes for ${parties.length} recipients...`);
    const shares: string[][] = nodes.map(() => []);
    for (let i = 0; i < opts.events; i++) shares[i % nodes.length]!.push(await world.forwardFor(parties[i % parties.length]!.did, `bench ${i}`));

    const t0 = performance.now();
    const accepted = (await Promise.all(nodes.map((n, k) => postAll(n.proc.url, shares[k]!, opts.connections)))).reduce((a, b) => a + b, 0);
    const acceptedAtMs = performance.now();
    if (accepted !== opts.events) throw new Error(`accepted ${accepted} of ${opts.events}`);
    await until(`${opts.events} webhooks received`, DELIVERY_TIMEOUT_MS, () => keys.size >= opts.events);
    const doneAtMs = performance.now();
    const dups = [...keys].filter(([, at]) => at.length > 1);
    if (dups.length > 0) log(`  DUPLICATES: ${dups.length} keys delivered more than once, e.g. ${dups.slice(0, 5).map(([k, at]) => `${k} at +${at.map((t) => Math.round(t - t0)).join(",")} ms`).join("; ")}`);
    // Every event must arrive; a second copy of a key is reported (at-least-once across an ownership move), not hidden.
    if (keys.size !== opts.events) throw new Error(`endpoint saw ${keys.size} distinct keys, expected ${opts.events}`);
    const ingestSeconds = (acceptedAtMs - t0) / 1000;
    const e2eSeconds = (doneAtMs - t0) / 1000;
    const deliverySeconds = (lastAtMs - firstAtMs) / 1000;
    return {
      events: opts.events,
      forwards_accepted_per_sec: Math.round(opts.events / ingestSeconds),
      events_delivered_per_sec: Math.round(opts.events / deliverySeconds),
      end_to_end_events_per_sec: Math.round(opts.events / e2eSeconds),
      drain_after_last_accept_ms: Math.round(doneAtMs - acceptedAtMs),
      requests_received: received,
      duplicate_keys: dups.length,
    };
  } finally {
    await Promise.allSettled(nodes.map((n) => n.proc.stop()));
    await nats?.stop();
    await endpoint.stop(true);
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Part 2: one acquire + release(ok) at a time on one destination: the breaker's cost per outbound call. */
async function breakerCost(shared: BreakerStore | null): Promise<{ us_per_call: number; calls_per_sec: number }> {
  const breaker = new DistributedBreaker({ nodeId: "bench", shared });
  const dest = destinationOf("https://hooks.bench.test/x");
  const once = async () => {
    const a = await breaker.acquire(dest);
    if (!a.admitted) throw new Error(`refused: ${a.reason}`);
    await breaker.release(a.permit, true);
  };
  try {
    for (let i = 0; i < Math.min(200, opts.breakerCalls); i++) await once();
    const t0 = performance.now();
    for (let i = 0; i < opts.breakerCalls; i++) await once();
    const ms = performance.now() - t0;
    if (breaker.mode !== (shared === null ? "local" : "shared")) throw new Error(`breaker fell back to ${breaker.mode}`);
    return { us_per_call: round((ms * 1000) / opts.breakerCalls, 1), calls_per_sec: Math.round((opts.breakerCalls * 1000) / ms) };
  } finally {
    breaker.close();
  }
}

async function kvCost(servers: 1 | 3): Promise<{ us_per_call: number; calls_per_sec: number }> {
  const nats = servers === 1 ? await startNatsServer() : await startNatsCluster({ servers: 3 });
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: nats.urls });
    const store = await KvBreakerStore.open(nc, { bucket: `bench_breakers_${servers}`, replicas: servers });
    return await breakerCost(store);
  } finally {
    await nc?.close().catch(() => {});
    await nats.stop();
  }
}

async function main(): Promise<Record<string, unknown>> {
  log(`breaker: ${fmtInt(opts.breakerCalls)} sequential acquire+release(ok) pairs per case`);
  await breakerCost(null); // warm-up (JIT) so the first case is not billed for it
  const memory = await breakerCost(null);
  log(`  in-memory store (no shared store):     ${memory.us_per_call} us/call  (${fmtInt(memory.calls_per_sec)} calls/s)`);
  const memoryShared = await breakerCost(new MemoryBreakerStore({ kind: "shared" }));
  log(`  MemoryBreakerStore as the shared store: ${memoryShared.us_per_call} us/call  (${fmtInt(memoryShared.calls_per_sec)} calls/s)`);
  const kv1 = await kvCost(1);
  log(`  KvBreakerStore, 1 nats-server (R1):    ${kv1.us_per_call} us/call  (${fmtInt(kv1.calls_per_sec)} calls/s)`);
  const kv3 = await kvCost(3);
  log(`  KvBreakerStore, 3 nats-servers (R3):   ${kv3.us_per_call} us/call  (${fmtInt(kv3.calls_per_sec)} calls/s)`);

  log(`cluster: 3 nodes + 3 NATS servers (R3), ${opts.partitions} partitions, DELIVERY_CONCURRENCY_PER_DESTINATION=${opts.concurrency}, ${opts.connections} POSTs in flight per node`);
  const cluster = await clusterThroughput();
  log(`  ${fmtInt(cluster.events!)} forwards accepted at ${fmtInt(cluster.forwards_accepted_per_sec!)}/s`);
  log(`  webhooks delivered: ${fmtInt(cluster.events_delivered_per_sec!)} events/s (first to last arrival), ${fmtInt(cluster.end_to_end_events_per_sec!)} events/s end to end; drained ${cluster.drain_after_last_accept_ms} ms after the last 202; ${fmtInt(cluster.requests_received!)} requests, ${cluster.duplicate_keys} keys sent twice`);
  return {
    bench: "delivery",
    cluster: { nodes: 3, nats_servers: 3, concurrency_per_destination: opts.concurrency, ...cluster },
    breaker_us_per_call: { memory_local: memory.us_per_call, memory_shared_store: memoryShared.us_per_call, kv_r1: kv1.us_per_call, kv_r3: kv3.us_per_call },
  };
}

const result = await main();
console.log(JSON.stringify(result));
