// `bun run bench:cluster`: 3 Haven nodes + a 3-server NATS JetStream cluster on this machine; forward load spread over
// the nodes (one wrk per node); accepted forwards/s and p50/p99, throughput while one node is cut off from NATS
// (FaultProxy), and failover time after kill -9 of a node. Loopback only, bounded in time. Ends with one JSON line.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { partitionOf } from "../src/cluster/partition.ts";
import { PartitionRing } from "../src/cluster/ring.ts";
import { decodeLease, leaseKey } from "../src/membership/lease-store.ts";
import { loadOrCreateIdentityFile } from "../src/didcomm/identity/index.ts";
import { FaultProxy } from "../test/support/fault-proxy.ts";
import { startNatsCluster, type NatsCluster } from "../test/support/nats-cluster.ts";
import { startNodeProcess, type NodeProcess } from "../test/support/node-process.ts";
import { fmtInt, numberArg } from "./lib/bench.ts";
import { BenchParty, BenchWorld, BT, pool } from "./lib/bench-party.ts";
import { cpuMsOf, round } from "./lib/proc-stats.ts";
import { haveWrk, runWrk, type WrkResult } from "./lib/wrk.ts";

const ENCRYPTED = "application/didcomm-encrypted+json";
const opts = {
  durationSeconds: numberArg("duration", 8, 2, 60),
  warmupSeconds: numberArg("warmup", 2, 0, 30),
  /** wrk connections per node. */
  connections: numberArg("connections", 32, 1, 512),
  envelopes: numberArg("envelopes", 30_000, 300, 200_000),
  recipients: numberArg("recipients", 48, 3, 1000),
  partitions: numberArg("partitions", 64, 3, 1024),
};
/** The shared PUBLIC_URL (in the one DID all nodes present): a load balancer's address in production. */
const PUBLIC_URL = "http://haven.bench.test";
/**
 * Failure-detection timings, spelled out so the failover figure says what it was measured with: the production
 * defaults (src/config), or with --fast those of the cluster e2e tests (test/cluster-e2e/harness.ts FAST_TIMINGS).
 */
const TIMINGS = process.argv.includes("--fast")
  ? { HEARTBEAT_INTERVAL_MS: "100", SUSPECT_AFTER_MS: "400", DEAD_AFTER_MS: "800", LEASE_TTL_MS: "1500" }
  : { HEARTBEAT_INTERVAL_MS: "250", SUSPECT_AFTER_MS: "750", DEAD_AFTER_MS: "1500", LEASE_TTL_MS: "1500" };
const NODE_ENV = { RATE_LIMIT_PER_CONNECTION: "100000", MAILBOX_MAX_MESSAGES: "10000000", MAILBOX_MAX_BYTES: "1024GiB", LOG_LEVEL: "warn", NATS_REPLICAS: "3" };
const FAILOVER_TIMEOUT_MS = 30_000;
const RELAY_TIMEOUT_MS = 60_000;

const log = (s: string) => console.log(s);

interface BenchNode {
  id: string;
  proc: NodeProcess;
}

interface StatusJson {
  live: string[];
  owned: { partition: number; serving: boolean }[];
  outbox: { size: number; degraded: boolean };
  routing: { accepted: number };
  ownershipEvents: { gained: number; lost: number; fenceOverruns: number };
}

type OwnershipCounts = Record<string, { gained: number; lost: number; fenceOverruns: number }>;

/** Each node's lease gains/losses so far (counters since it started). */
async function ownershipCounts(nodes: BenchNode[]): Promise<OwnershipCounts> {
  const out: OwnershipCounts = {};
  for (const n of nodes) out[n.id] = { ...(await status(n)).ownershipEvents };
  return out;
}

/**
 * The counters once every handover has been counted: a node counts a loss only after its onLost finished and a
 * gain once it serves, so right after ownership settles a handover may still be uncounted. Settled means each
 * partition gained once more than it was lost, across the nodes.
 */
async function settledCounts(nodes: BenchNode[]): Promise<OwnershipCounts> {
  return until("ownership counters settled", 30_000, async () => {
    const c = await ownershipCounts(nodes);
    return Object.values(c).reduce((n, x) => n + x.gained - x.lost, 0) === opts.partitions ? c : null;
  });
}

/** Gains/losses between two snapshots: a loss outside a failure is a spurious one (a renewal did not land in time). */
function ownershipDelta(before: OwnershipCounts, after: OwnershipCounts): OwnershipCounts {
  const out: OwnershipCounts = {};
  for (const [id, a] of Object.entries(after)) {
    const b = before[id] ?? { gained: 0, lost: 0, fenceOverruns: 0 };
    out[id] = { gained: a.gained - b.gained, lost: a.lost - b.lost, fenceOverruns: a.fenceOverruns - b.fenceOverruns };
  }
  return out;
}

async function status(n: BenchNode): Promise<StatusJson> {
  const res = await fetch(`${n.proc.url}/cluster/status`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${n.id}: /cluster/status ${res.status}`);
  return (await res.json()) as StatusJson;
}

/**
 * partition -> node id when `nodes` agree on the live set and each partition is served exactly once, by the node
 * the ring gives it to (not still by its previous holder while the handover is in flight); else null.
 */
async function settled(nodes: BenchNode[]): Promise<Map<number, string> | null> {
  const ids = JSON.stringify(nodes.map((n) => n.id).sort());
  const ring = new PartitionRing(nodes.map((n) => n.id), opts.partitions);
  const owners = new Map<number, string>();
  for (const n of nodes) {
    const s = await status(n).catch(() => null);
    if (s === null || JSON.stringify([...s.live].sort()) !== ids) return null;
    for (const o of s.owned) {
      if (!o.serving) continue;
      if (owners.has(o.partition) || ring.ownerOf(o.partition) !== n.id) return null;
      owners.set(o.partition, n.id);
    }
  }
  return owners.size === opts.partitions ? owners : null;
}

/** Polls `probe` (a status read, not a stand-in for an event) until it yields a value or the deadline passes. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(20);
  }
}

/** One wrk per node in parallel, each over its own share of the envelopes. */
async function loadRound(nodes: BenchNode[], files: Map<string, string>, seconds: number, workDir: string): Promise<{ perNode: Map<string, WrkResult>; cpuMs: number }> {
  const cpu0 = nodes.reduce((s, n) => s + cpuMsOf(n.proc.pid), 0);
  const results = await Promise.all(
    nodes.map((n) =>
      runWrk({ url: `${n.proc.url}/`, bodiesFile: files.get(n.id)!, connections: opts.connections, threads: 1, durationSeconds: seconds, contentType: ENCRYPTED, workDir: join(workDir, n.id) }),
    ),
  );
  const cpuMs = nodes.reduce((s, n) => s + cpuMsOf(n.proc.pid), 0) - cpu0;
  const dead = nodes.filter((n) => !n.proc.alive());
  if (dead.length > 0) throw new Error(`node(s) died under load: ${dead.map((n) => `${n.id}\n${n.proc.output().split("\n").slice(-40).join("\n")}`).join("\n")}`);
  return { perNode: new Map(nodes.map((n, i) => [n.id, results[i]!])), cpuMs };
}

interface Figures {
  forwards_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  accepted: number;
  non_202: number;
  socket_errors: number;
  per_node: Record<string, { forwards_per_sec: number; p50_ms: number; p99_ms: number; non_202: number }>;
}

/** Sums throughput; latency: p50 is the request-weighted mean of the nodes' p50s, p99 the worst node's p99 (conservative). */
function summarise(perNode: Map<string, WrkResult>): Figures {
  let requests = 0;
  let accepted = 0;
  let other = 0;
  let socketErrors = 0;
  let rate = 0;
  let p50w = 0;
  let p99 = 0;
  const per: Figures["per_node"] = {};
  for (const [id, r] of perNode) {
    requests += r.requests;
    accepted += r.accepted;
    other += r.other;
    socketErrors += r.socketErrors;
    const nodeRate = r.durationSeconds > 0 ? r.accepted / r.durationSeconds : 0;
    rate += nodeRate;
    p50w += r.p50Ms * r.requests;
    p99 = Math.max(p99, r.p99Ms);
    per[id] = { forwards_per_sec: Math.round(nodeRate), p50_ms: round(r.p50Ms, 2), p99_ms: round(r.p99Ms, 2), non_202: r.other };
  }
  return { forwards_per_sec: Math.round(rate), p50_ms: round(requests > 0 ? p50w / requests : 0, 2), p99_ms: round(p99, 2), requests, accepted, non_202: other, socket_errors: socketErrors, per_node: per };
}

function printFigures(label: string, f: Figures): void {
  log(`${label}: ${fmtInt(f.forwards_per_sec)} accepted forwards/s  p50 ${f.p50_ms} ms  p99 ${f.p99_ms} ms  (${fmtInt(f.accepted)} x 202, ${fmtInt(f.non_202)} other, ${f.socket_errors} socket errors)`);
  for (const [id, n] of Object.entries(f.per_node)) log(`    ${id}: ${fmtInt(n.forwards_per_sec)}/s  p50 ${n.p50_ms} ms  p99 ${n.p99_ms} ms  non-202 ${n.non_202}`);
}

/**
 * Lease writes of the victim's partitions seen on the KV bucket's subjects (a plain subscription: it sees every write
 * the stream stores, in order, without reading the stream). Times in ms of performance.now().
 */
class LeaseTimeline {
  killAtMs = NaN;
  readonly #lastVictimWriteMs = new Map<number, number>();
  readonly #victimWrites = new Map<number, number>();
  /** Lease writes of the victim's partitions seen, by writer and before/after the kill. */
  readonly writesByHolder: Record<string, number> = {};
  readonly #acquiredMs = new Map<number, number>();
  /** Server-side expiry of the victim's keys as read from the stream after the kill (its last write's timestamp + TTL). */
  readonly #expiresMs = new Map<number, number>();
  readonly #servedMs = new Map<number, number>();
  readonly #parts: Set<number>;

  constructor(parts: number[], readonly victimId: string) {
    this.#parts = new Set(parts);
  }

  watch(nc: Awaited<ReturnType<typeof connect>>): void {
    const sub = nc.subscribe("$KV.haven_leases.>");
    void (async () => {
      for await (const m of sub) {
        const nowMs = performance.now();
        const p = Number(m.subject.slice(m.subject.lastIndexOf(".") + 1));
        if (!this.#parts.has(p) || m.data.length === 0) continue;
        const holder = decodeLease(m.data, 1)?.nodeId;
        const tag = `${holder ?? "?"}${!Number.isNaN(this.killAtMs) && nowMs > this.killAtMs ? " after kill" : " before kill"}`;
        this.writesByHolder[tag] = (this.writesByHolder[tag] ?? 0) + 1;
        if (holder === this.victimId) {
          this.#lastVictimWriteMs.set(p, nowMs);
          this.#victimWrites.set(p, (this.#victimWrites.get(p) ?? 0) + 1);
        }
        else if (holder !== undefined && !Number.isNaN(this.killAtMs) && nowMs > this.killAtMs && !this.#acquiredMs.has(p)) this.#acquiredMs.set(p, nowMs);
      }
    })();
  }

  /** The key of `p` expires at `expiresMs` (performance.now() units). */
  expires(p: number, expiresMs: number): void {
    if (this.#parts.has(p)) this.#expiresMs.set(p, expiresMs);
  }

  served(p: number): void {
    if (this.#parts.has(p) && !Number.isNaN(this.killAtMs) && !this.#servedMs.has(p)) this.#servedMs.set(p, performance.now());
  }

  /** Per partition: [partition, victim's writes seen, victim's key expires, acquired, served] (s after the kill). */
  partitions(): (number | null)[][] {
    const since = (ms: number | undefined) => (ms === undefined ? null : round((ms - this.killAtMs) / 1000, 2));
    return [...this.#parts].sort((a, b) => a - b).map((p) => [p, this.#victimWrites.get(p) ?? 0, since(this.#expiresMs.get(p)), since(this.#acquiredMs.get(p)), since(this.#servedMs.get(p))]);
  }

  summary(leaseTtlMs: number): { expires_s: number[]; acquired_s: number[]; served_s: number[]; acquire_after_expiry_s: number[]; rebuild_s: number[] } {
    const since = (ms: number | undefined) => (ms === undefined ? NaN : (ms - this.killAtMs) / 1000);
    const stats = (xs: number[]) => {
      const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
      return v.length === 0 ? [NaN, NaN, NaN] : [round(v[0]!, 2), round(v[Math.floor(v.length / 2)]!, 2), round(v[v.length - 1]!, 2)];
    };
    const parts = [...this.#parts];
    // The stream's own timestamp when it was read in time; else the last write seen on the subscription.
    const expires = parts.map((p) => since(this.#expiresMs.get(p) ?? (this.#lastVictimWriteMs.get(p) ?? NaN) + leaseTtlMs));
    const acquired = parts.map((p) => since(this.#acquiredMs.get(p)));
    const served = parts.map((p) => since(this.#servedMs.get(p)));
    return {
      expires_s: stats(expires),
      acquired_s: stats(acquired),
      served_s: stats(served),
      acquire_after_expiry_s: stats(parts.map((_, i) => acquired[i]! - expires[i]!)),
      rebuild_s: stats(parts.map((_, i) => served[i]! - acquired[i]!)),
    };
  }
}

async function main(): Promise<Record<string, unknown>> {
  if (!haveWrk()) throw new Error("wrk is not installed (Debian: apt-get install -y wrk)");
  const workDir = mkdtempSync(join(tmpdir(), "haven-bench-cluster-"));
  const keysFile = join(workDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  let nats: NatsCluster | undefined;
  const nodes: BenchNode[] = [];
  const proxies: FaultProxy[] = [];
  try {
    const t0 = performance.now();
    nats = await startNatsCluster({ servers: 3 });
    // node-c reaches NATS only through fault proxies (one per server), so it can be cut off from all of them.
    for (const url of nats.urls) proxies.push(FaultProxy.start({ target: url }));
    const natsUrlOf = (id: string) => (id === "node-c" ? proxies.map((p) => p.url) : nats!.urls).join(",");
    const started = await Promise.all(
      ["node-a", "node-b", "node-c"].map(async (id) => {
        const proc = await startNodeProcess({
          startTimeoutMs: 60_000,
          env: { ...NODE_ENV, ...TIMINGS, NODE_ID: id, PARTITIONS: String(opts.partitions), NATS_URL: natsUrlOf(id), MEDIATOR_KEYS_FILE: keysFile, PUBLIC_URL },
        });
        return { id, proc };
      }),
    );
    nodes.push(...started);
    if (new Set(nodes.map((n) => n.proc.did)).size !== 1) throw new Error("nodes do not share one DID");
    await until("ownership settled on 3 nodes", 60_000, () => settled(nodes));
    log(`cluster up in ${round((performance.now() - t0) / 1000)} s: 3 NATS servers (JetStream R3) + 3 nodes, ${opts.partitions} partitions`);
    const ownedAtUp = await settledCounts(nodes);

    const world = new BenchWorld(nodes[0]!.proc.url, nodes[0]!.proc.did);
    const parties: BenchParty[] = Array.from({ length: opts.recipients }, () => world.party());
    await pool(parties.length, 8, (i) => parties[i]!.enrol());
    log(`generating ${fmtInt(opts.envelopes)} distinct forward envelopes for ${parties.length} recipients...`);
    const files = new Map<string, string>();
    const warmFiles = new Map<string, string>();
    for (const [k, n] of nodes.entries()) {
      const share: string[] = [];
      for (let i = k; i < opts.envelopes; i += nodes.length) {
        share.push(await world.forwardFor(parties[i % parties.length]!.did, `bench ${i}`));
        // Let I/O run now and then: node-c's NATS link goes through this process's fault proxies, and a generation
        // that never yields to the event loop stalls it long enough to cost node-c its leases.
        if (i % 64 === k) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const warm: string[] = [];
      for (let i = 0; i < 300; i++) warm.push(await world.forwardFor(parties[(i + k) % parties.length]!.did, `warm ${k} ${i}`));
      files.set(n.id, join(workDir, `${n.id}.txt`));
      warmFiles.set(n.id, join(workDir, `${n.id}-warm.txt`));
      writeFileSync(files.get(n.id)!, share.join("\n") + "\n");
      writeFileSync(warmFiles.get(n.id)!, warm.join("\n") + "\n");
    }
    for (const n of nodes) mkdirSync(join(workDir, n.id)); // each wrk writes its Lua script in its own dir

    // 1. Steady state: all three nodes, load spread evenly.
    // Settled again first: generating the envelopes keeps this process (and so node-c's fault proxies) busy, which
    // can stall node-c's NATS link long enough to cost it its leases; those losses are the bench's, not the load's.
    await until("ownership settled on 3 nodes before the load", 60_000, () => settled(nodes));
    const ownedAtStart = await settledCounts(nodes);
    const setupLosses = ownershipDelta(ownedAtUp, ownedAtStart);
    if (opts.warmupSeconds > 0) await loadRound(nodes, warmFiles, opts.warmupSeconds, workDir);
    const steadyRun = await loadRound(nodes, files, opts.durationSeconds, workDir);
    const steady = summarise(steadyRun.perNode);
    printFigures("steady (3 nodes)", steady);
    const cpuUsPerForward = steady.requests > 0 ? (steadyRun.cpuMs * 1000) / steady.requests : NaN;
    log(`    node CPU ${round(cpuUsPerForward)} us per request (3 nodes, user+sys)`);
    const ownedAfterSteady = await ownershipCounts(nodes);

    // 2. node-c cut off from every NATS server: it keeps accepting into its local journal (degraded), then relays.
    for (const p of proxies) p.cut();
    const cutAtMs = performance.now();
    const partitionedRun = await loadRound(nodes, files, opts.durationSeconds, workDir);
    const partitioned = summarise(partitionedRun.perNode);
    const nodeC = nodes[2]!;
    printFigures("one node cut off from NATS", partitioned);
    const ownedAtHeal = await ownershipCounts(nodes);
    for (const p of proxies) p.pass();
    const healAtMs = performance.now();
    const outboxAtHeal = await until("node-c status after heal", 10_000, async () => (await status(nodeC)).outbox.size);
    await until("node-c outbox relayed", RELAY_TIMEOUT_MS, async () => (await status(nodeC)).outbox.size === 0);
    const relaySeconds = (performance.now() - healAtMs) / 1000;
    await until("ownership settled on 3 nodes after heal", 60_000, () => settled(nodes));
    const rejoinSeconds = (performance.now() - healAtMs) / 1000;
    log(`    cut for ${round((healAtMs - cutAtMs) / 1000)} s; node-c outbox at heal ${fmtInt(outboxAtHeal)}, relayed in ${round(relaySeconds, 2)} s; ownership settled on 3 nodes again ${round(rejoinSeconds, 2)} s after heal`);
    // Lease losses: none is expected in the steady phase, nor on node-a/node-b while node-c is cut off (node-c loses
    // all of its leases then, by design: it cannot renew). A loss where none is expected is a renewal that did not
    // land in time (LEASE_TTL_MS too short for the load).
    const ownedSettled = await settledCounts(nodes);
    const leaseChanges = { steady: ownershipDelta(ownedAtStart, ownedAfterSteady), partitioned: ownershipDelta(ownedAfterSteady, ownedAtHeal), heal: ownershipDelta(ownedAtHeal, ownedSettled) };
    const fmtLosses = (d: OwnershipCounts) => Object.entries(d).map(([id, c]) => `${id} ${c.lost}`).join(", ");
    log(`    lease losses: while this process generated envelopes ${fmtLosses(setupLosses)}; steady (incl. warm-up) ${fmtLosses(leaseChanges.steady)}; while node-c was cut off ${fmtLosses(leaseChanges.partitioned)} (node-c's expected); after heal ${fmtLosses(leaseChanges.heal)}`);
    const spuriousLosses = Object.values(leaseChanges.steady).reduce((n, c) => n + c.lost, 0) + ["node-a", "node-b"].reduce((n, id) => n + (leaseChanges.partitioned[id]?.lost ?? 0), 0);
    const fenceOverruns = [leaseChanges.steady, leaseChanges.partitioned, leaseChanges.heal].reduce((n, d) => n + Object.values(d).reduce((m, c) => m + c.fenceOverruns, 0), 0);
    log(`    spurious lease losses (steady, and node-a/node-b while node-c was cut off): ${spuriousLosses}; fence overruns: ${fenceOverruns}`);

    // 3. kill -9 node-b under load on the survivors: until its partitions are served elsewhere, and until a read
    //    of a mailbox it owned succeeds (the read is routed to the new owner).
    const owners = (await settled(nodes))!;
    const victim = nodes[1]!;
    const survivors = nodes.filter((n) => n !== victim);
    const victimParts = [...owners].filter(([, o]) => o === victim.id).map(([p]) => p);
    const probeParty = parties.find((p) => victimParts.includes(partitionOf(p.did, opts.partitions)));
    if (probeParty === undefined) throw new Error("no recipient in the victim's partitions (raise --recipients)");
    const probeWorld = new BenchWorld(survivors[0]!.proc.url, survivors[0]!.proc.did);
    for (const [k, v] of world.secrets.keys) probeWorld.secrets.keys.set(k, v);
    const probe = new BenchParty(probeWorld, probeParty.did);
    const acceptedOn = async (ns: BenchNode[]) => (await Promise.all(ns.map(status))).reduce((sum, s) => sum + s.routing.accepted, 0);
    const acceptedBefore = await acceptedOn(survivors);
    // Nothing is picked up in this bench, so every accepted forward is still in the stream: a new owner replays its
    // partitions' share of that backlog before serving (part of the failover time).
    const backlog = steady.accepted + partitioned.accepted;
    // Every lease write (create, renewal, release) as it happens: the victim's last renewal per partition (its key
    // expires LEASE_TTL_MS later) and the first write by a survivor (the acquisition).
    const timeline = new LeaseTimeline(victimParts, victim.id);
    const timelineNc = await connect({ servers: nats!.urls });
    timeline.watch(timelineNc);
    const background = loadRound(survivors, files, Math.min(opts.durationSeconds, 8), workDir);
    await until("background load running on the survivors", 10_000, async () => (await acceptedOn(survivors)) >= acceptedBefore + 500);
    const killAtMs = performance.now();
    const killWallMs = Date.now(); // node log lines carry wall-clock times
    timeline.killAtMs = killAtMs;
    await victim.proc.kill("SIGKILL");
    // Milestones on the way (first seen by polling): where the failover time goes. Leases are read from the KV
    // stream itself (a node reports a partition in /cluster/status only once it rebuilt it and serves it).
    let deadSeconds = NaN;
    let heldSeconds = NaN;
    const leaseNc = await connect({ servers: nats!.urls });
    const leaseJsm = await jetstreamManager(leaseNc);
    // Each victim key expires LEASE_TTL_MS after its last write as the stream stamped it (server clock, the same
    // machine's wall clock as killWallMs). Read now: the keys live >= LEASE_TTL_MS - renew interval after the kill.
    const expiring = Promise.all(
      victimParts.map(async (p) => {
        const m = await leaseJsm.streams.getMessage("KV_haven_leases", { last_by_subj: `$KV.haven_leases.${leaseKey(p)}` }).catch(() => null);
        if (m === null || m.data.length === 0 || decodeLease(m.data, m.seq)?.nodeId !== victim.id) return;
        timeline.expires(p, killAtMs + (m.time.getTime() + Number(TIMINGS.LEASE_TTL_MS) - killWallMs));
      }),
    );
    const leaseHolder = async (p: number): Promise<string | null> => {
      const m = await leaseJsm.streams.getMessage("KV_haven_leases", { last_by_subj: `$KV.haven_leases.${leaseKey(p)}` }).catch(() => null);
      return m === null || m.data.length === 0 ? null : (decodeLease(m.data, m.seq)?.nodeId ?? null);
    };
    // Three independent pollers from the kill on, so a slow answer to one (a status call on a loaded node, up to
    // its 2 s timeout) delays no other milestone: the read of a victim mailbox (the failover figure; the node
    // routes it to the partition's owner and retries until that one serves), the leases, and each node's status.
    let readSeconds = NaN;
    const reading = until("a read of a victim mailbox succeeds", FAILOVER_TIMEOUT_MS, async () => (await probe.ask(BT.statusRequest, {})).type === BT.status).then(() => {
      readSeconds = (performance.now() - killAtMs) / 1000;
    });
    const holding = until("victim's leases held by survivors", FAILOVER_TIMEOUT_MS, async () => {
      const holders = await Promise.all(victimParts.map(leaseHolder));
      return holders.every((h) => h !== null && h !== victim.id);
    }).then(() => {
      heldSeconds = (performance.now() - killAtMs) / 1000;
    });
    const lastStatus = new Map<string, StatusJson>();
    let polling = true;
    // One sequential poller per node (at most one status call in flight each); the check below reads their latest.
    const pollers = survivors.map(async (n) => {
      while (polling) {
        const st = await status(n).catch(() => null);
        if (st !== null) lastStatus.set(n.id, st);
        await Bun.sleep(20);
      }
    });
    await until("victim's partitions served by survivors", FAILOVER_TIMEOUT_MS, async () => {
      const s = [...lastStatus.values()];
      if (Number.isNaN(deadSeconds) && s.length === survivors.length && s.every((x) => !x.live.includes(victim.id))) deadSeconds = (performance.now() - killAtMs) / 1000;
      const served = new Set(s.flatMap((x) => x.owned.filter((o) => o.serving).map((o) => o.partition)));
      for (const p of served) timeline.served(p);
      return victimParts.every((p) => served.has(p));
    });
    const servedSeconds = (performance.now() - killAtMs) / 1000;
    polling = false;
    await Promise.all([reading, holding, expiring, ...pollers]);
    await leaseNc.close();
    const during = summarise((await background).perNode);
    log(`failover after kill -9 of ${victim.id} (${victimParts.length} partitions, stream backlog ~${fmtInt(backlog)} unconfirmed forwards, timings ${JSON.stringify(TIMINGS)}):`);
    log(`    declared dead by both survivors after ${round(deadSeconds, 2)} s, all its partitions' leases held by survivors after ${round(heldSeconds, 2)} s (then rebuilt from the stream)`);
    log(`    served elsewhere after ${round(servedSeconds, 2)} s, first successful read of its mailbox after ${round(readSeconds, 2)} s`);
    await timelineNc.close();
    const tl = timeline.summary(Number(TIMINGS.LEASE_TTL_MS));
    log(`    per partition (s after kill, min/median/max): victim's key expires ${tl.expires_s.join("/")}, acquired ${tl.acquired_s.join("/")}, served ${tl.served_s.join("/")}`);
    log(`    acquired after expiry ${tl.acquire_after_expiry_s.join("/")} s, rebuild (acquired -> served, polled) ${tl.rebuild_s.join("/")} s`);
    log(`    lease writes of its partitions seen: ${JSON.stringify(timeline.writesByHolder)}`);
    // The survivors' warnings during the failover (levels >= warn only; never message contents): stalls, retries.
    for (const n of survivors) {
      const lines = n.proc.output().split("\n").filter((l) => /"level":(40|50|60)/.test(l));
      const byMsg = new Map<string, number>();
      for (const l of lines) {
        const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? "?";
        byMsg.set(msg, (byMsg.get(msg) ?? 0) + 1);
      }
      log(`    ${n.id} warnings: ${JSON.stringify(Object.fromEntries(byMsg))}`);
      for (const l of lines.filter((x) => /slow partition rebuild|replica failed|rebuild failed|lease error/.test(x))) {
        const atS = round((Number(/"time":(\d+)/.exec(l)?.[1] ?? NaN) - killWallMs) / 1000, 2);
        log(`      ${atS} s after kill: ${l.replace(/^.*?"(partition|err|context)"/, '"$1"').slice(0, 300)}`);
      }
    }
    printFigures("    survivors' load across the failover", during);

    const goal = { forwardsPerSec: 10_000, p99Ms: 50, failoverS: 3 };
    const met = steady.forwards_per_sec >= goal.forwardsPerSec && steady.p99_ms <= goal.p99Ms && partitioned.forwards_per_sec >= goal.forwardsPerSec && partitioned.p99_ms <= goal.p99Ms && readSeconds <= goal.failoverS;
    log(`goals (>= 10k forwards/s with p99 <= 50 ms, also partitioned; failover <= 3 s): ${met ? "met" : "NOT met"}`);
    return {
      bench: "cluster",
      nodes: 3,
      nats_servers: 3,
      partitions: opts.partitions,
      connections_per_node: opts.connections,
      duration_s: opts.durationSeconds,
      timings: TIMINGS,
      steady,
      node_cpu_us_per_request: round(cpuUsPerForward),
      partitioned: { ...partitioned, outbox_at_heal: outboxAtHeal, relay_s: round(relaySeconds, 2), resettle_s: round(rejoinSeconds, 2) },
      lease_changes: { ...leaseChanges, spurious_losses: spuriousLosses, fence_overruns: fenceOverruns, setup: setupLosses, counters: { up: ownedAtUp, start: ownedAtStart, after_steady: ownedAfterSteady, at_heal: ownedAtHeal, settled: ownedSettled } },
      failover: { victim_partitions: victimParts.length, stream_backlog: backlog, dead_s: round(deadSeconds, 2), leases_held_s: round(heldSeconds, 2), served_elsewhere_s: round(servedSeconds, 2), first_read_ok_s: round(readSeconds, 2), timeline: tl, partitions: timeline.partitions(), survivors_load: during },
      goal: { ...goal, met },
    };
  } finally {
    await Promise.allSettled(nodes.map((n) => n.proc.stop()));
    for (const p of proxies) p.close();
    await nats?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

const result = await main();
console.log(JSON.stringify(result));
