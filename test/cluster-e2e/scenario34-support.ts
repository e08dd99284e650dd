// Support for cluster scenarios 3 and 4: nodes reaching NATS through fault proxies, an ownership monitor that
// proves a single owner per partition, a forward load that records what was acknowledged, and exactly-once checks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { decodeConfirmMarker } from "../../src/replication/record.ts";
import { connect } from "@nats-io/transport-node";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import { Agent } from "../support/agent.ts";
import { contentOf, deliver, received, sendVia, type Recipient } from "../e2e/helpers.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess } from "../support/node-process.ts";
import type { Rng } from "../support/random.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { clusterStatus, FAST_TIMINGS, waitFor, type ClusterNode } from "./harness.ts";

const SHARED_PUBLIC_URL = "http://haven.cluster.test";

export interface ProxiedNode extends ClusterNode {
  /** One proxy per NATS server: this node's only way to NATS. */
  readonly proxies: FaultProxy[];
}

export interface ProxiedCluster {
  readonly nats: NatsCluster;
  readonly nodes: ProxiedNode[];
  readonly partitions: number;
  stop(): Promise<void>;
}

/**
 * 3 NATS servers and `nodes` Haven nodes; each node lists only its own proxies in NATS_URL (and ignores
 * server-advertised addresses), so cutting its proxies really partitions it from NATS.
 */
export async function startProxiedCluster(opts: {
  nodes: number;
  partitions?: number;
  env?: Record<string, string>;
  /** Routes between the NATS servers through proxies too (NatsCluster.isolateRoutes). Default false. */
  proxiedRoutes?: boolean;
  /** Indexes of the NATS servers node `i` may use (default all): [i] pins a node to one server. */
  serversFor?: (nodeIndex: number) => number[];
}): Promise<ProxiedCluster> {
  const partitions = opts.partitions ?? 16;
  const nats = await startNatsCluster({ servers: 3, proxiedRoutes: opts.proxiedRoutes ?? false });
  const keysDir = mkdtempSync(join(tmpdir(), "haven-s34-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  const nodes: ProxiedNode[] = [];
  const proxies: FaultProxy[] = [];
  const cluster: ProxiedCluster = {
    nats,
    nodes,
    partitions,
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.proc.stop()));
      for (const p of proxies) p.close();
      await nats.stop();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
  try {
    const started = await Promise.all(
      Array.from({ length: opts.nodes }, async (_, i) => {
        const id = `node-${String.fromCharCode(97 + i)}`;
        // Seeded explicitly: the proxy would otherwise read SEED itself (as a number, which a 64-bit seed overflows).
        const targets = opts.serversFor === undefined ? nats.urls : opts.serversFor(i).map((k) => nats.urls[k]!);
        const own = targets.map((target) => FaultProxy.start({ target, random: seededRandom(i) }));
        proxies.push(...own);
        const proc = await startNodeProcess({
          echo: process.env.E2E_ECHO === "1",
          startTimeoutMs: 30_000,
          env: {
            ...FAST_TIMINGS,
            ...opts.env,
            NATS_URL: own.map((p) => p.url).join(","),
            MEDIATOR_KEYS_FILE: keysFile,
            PUBLIC_URL: SHARED_PUBLIC_URL,
            NODE_ID: id,
            PARTITIONS: String(partitions),
            NATS_REPLICAS: "3",
          },
        });
        return { id, proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl }, proxies: own };
      }),
    );
    nodes.push(...started);
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

interface Observation {
  node: string;
  epoch: number;
  /** Wall-clock window in which the node's answer was produced. */
  sentAtMs: number;
  recvAtMs: number;
}

/**
 * Polls every node's /cluster/status and records, per partition, who reported serving it at which epoch.
 * A violation is proven, not guessed: node A serving at epoch eA was observed strictly after (its request
 * was sent after the answer arrived) node B had served the same partition at a newer epoch eB > eA, or two
 * nodes served the same epoch. Snapshot skew alone can never produce one.
 */
export class OwnershipMonitor {
  readonly #byPartition = new Map<number, Observation[]>();
  #running = false;
  #loop: Promise<void> | undefined;
  polls = 0;
  unreachable = 0;

  constructor(private readonly nodes: readonly ClusterNode[]) {}

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await Promise.all(this.nodes.filter((n) => n.proc.alive()).map((n) => this.#poll(n)));
        this.polls++;
        await Bun.sleep(10); // sampling interval of the monitor (it observes; nothing waits on it)
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #poll(n: ClusterNode): Promise<void> {
    const sentAtMs = performance.timeOrigin + performance.now();
    try {
      const s = await clusterStatus(n);
      const recvAtMs = performance.timeOrigin + performance.now();
      for (const o of s.owned) {
        if (!o.serving) continue;
        const list = this.#byPartition.get(o.partition) ?? [];
        list.push({ node: n.id, epoch: o.epoch, sentAtMs, recvAtMs });
        this.#byPartition.set(o.partition, list);
      }
    } catch {
      this.unreachable++; // a node being killed: no observation
    }
  }

  /** Proven overlaps (empty when the single-owner invariant held as far as observed). */
  violations(): string[] {
    const out: string[] = [];
    for (const [p, obs] of this.#byPartition) {
      const epochOwner = new Map<number, string>();
      for (const o of obs) {
        const owner = epochOwner.get(o.epoch);
        if (owner !== undefined && owner !== o.node) out.push(`p${p}: epoch ${o.epoch} served by ${owner} and ${o.node}`);
        epochOwner.set(o.epoch, o.node);
      }
      // For each epoch, the earliest answer proving it served; then any older epoch seen after that is an overlap.
      const firstSeen = new Map<number, number>();
      for (const o of obs) firstSeen.set(o.epoch, Math.min(firstSeen.get(o.epoch) ?? Infinity, o.recvAtMs));
      for (const o of obs) {
        for (const [epoch, atMs] of firstSeen) {
          if (epoch > o.epoch && o.sentAtMs > atMs && epochOwner.get(epoch) !== o.node) {
            out.push(`p${p}: ${o.node} served epoch ${o.epoch} after ${epochOwner.get(epoch)} served epoch ${epoch}`);
          }
        }
      }
    }
    return [...new Set(out)];
  }

  /** Partitions whose serving node changed at least once (epochs observed on more than one node). */
  moved(): number[] {
    const out: number[] = [];
    for (const [p, obs] of this.#byPartition) if (new Set(obs.map((o) => o.node)).size > 1) out.push(p);
    return out;
  }
}

export interface LoadStats {
  sent: Set<string>;
  acked: Map<string, Recipient>;
  /** Acknowledged forwards per node id. */
  ackedVia: Map<string, number>;
  /** Retryable refusals seen: 503 per node id, 429 per "<node id>:429". */
  retried: Map<string, number>;
  /** Longest time between two consecutive 202s across the whole load (ms). */
  longestGapMs: number;
}

/**
 * A forward load: `workers` loops pick a node (via `pickNode`) and a recipient at random and send a forward;
 * a 503 or 429 (retryable) is retried with a fresh message on another pick, as a real sender would; any other
 * status fails the test. Runs until `stop()`; `done` resolves with the stats.
 */
export function forwardLoad(o: {
  nodes: () => readonly ClusterNode[];
  recipients: readonly Recipient[];
  rng: Rng;
  workers: number;
  prefix: string;
  /** A node being killed: a request to it that dies with the connection is not acknowledged, so not owed. */
  mayDrop?: (node: ClusterNode) => boolean;
}): { stats: LoadStats; stop: () => Promise<LoadStats> } {
  const stats: LoadStats = { sent: new Set(), acked: new Map(), ackedVia: new Map(), retried: new Map(), longestGapMs: 0 };
  const sender = new Agent();
  let running = true;
  let next = 0;
  let lastAckAtMs = performance.now();
  const worker = async (): Promise<void> => {
    while (running) {
      const nodes = o.nodes();
      const via = nodes[o.rng.int(nodes.length)]!;
      const r = o.recipients[o.rng.int(o.recipients.length)]!;
      const text = `${o.prefix}-${next++}`;
      stats.sent.add(text);
      let reply: Awaited<ReturnType<typeof sendVia>>["reply"];
      try {
        ({ reply } = await sendVia(via.ref, sender, r.inbox.did, text));
      } catch (e) {
        if (!o.mayDrop?.(via)) throw e;
        stats.retried.set(`${via.id}:dropped`, (stats.retried.get(`${via.id}:dropped`) ?? 0) + 1);
        continue;
      }
      if (reply.status === 202) {
        const now = performance.now();
        stats.longestGapMs = Math.max(stats.longestGapMs, now - lastAckAtMs);
        lastAckAtMs = now;
        stats.acked.set(text, r);
        stats.ackedVia.set(via.id, (stats.ackedVia.get(via.id) ?? 0) + 1);
      } else if (reply.status === 503 || reply.status === 429) {
        // Both are retryable refusals (nothing was accepted); 429 is the per-connection rate limit, which pooled
        // keep-alive connections of 6 workers can reach in a burst.
        const key = reply.status === 429 ? `${via.id}:429` : via.id;
        stats.retried.set(key, (stats.retried.get(key) ?? 0) + 1);
      } else {
        throw new Error(`forward via ${via.id} refused: ${reply.status} ${reply.body.slice(0, 200)}`);
      }
    }
  };
  const all = Promise.all(Array.from({ length: o.workers }, worker));
  return {
    stats,
    stop: async () => {
      running = false;
      await all;
      return stats;
    },
  };
}

/**
 * Picks up everything for `r` through `via` (delivery + messages-received in rounds); returns the contents.
 * "Everything" means until a round finds the mailbox empty, which only terminates once forwards to `r` stop:
 * under a live load each round finds the few that arrived meanwhile. With the load running pass `maxRounds`.
 */
export async function drainMailbox(via: ClusterNode, r: Recipient, opts: { maxRounds?: number } = {}): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < (opts.maxRounds ?? Infinity); round++) {
    const got = await deliver(via.ref, r, 100, { underLoad: true });
    if (got.length === 0) return out;
    out.push(...got.map(contentOf));
    const ack = await received(via.ref, r, got.map((d) => d.storedId));
    expect(ack.type).toContain("status");
  }
  return out;
}

/** Every acknowledged forward delivered exactly once; nothing delivered that was never sent. */
export function expectExactlyOnce(delivered: readonly string[], stats: LoadStats): void {
  const counts = new Map<string, number>();
  for (const t of delivered) counts.set(t, (counts.get(t) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
  const lost = [...stats.acked.keys()].filter((t) => !counts.has(t));
  const invented = [...counts.keys()].filter((t) => !stats.sent.has(t));
  expect({ twice, lost, invented }).toEqual({ twice: [], lost: [], invented: [] });
}

/**
 * Mail records still in the stream per subject (after every mailbox was drained these are the undelivered ones):
 * tells "lost from the stream" apart from "in the stream but never served by the owner". Confirmation markers (kept
 * by design until the owner prunes them) are read and counted apart.
 */
export async function streamLeftovers(natsUrls: readonly string[], stream: string): Promise<{ total: number; bySubject: Record<string, number>; markers: number }> {
  const nc = await connect({ servers: [...natsUrls], timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const info = await jsm.streams.info(stream);
    const bySubject: Record<string, number> = {};
    let total = 0;
    let markers = 0;
    if (info.state.messages === 0) return { total, bySubject, markers };
    const consumer = await jetstream(nc, { timeout: 5000 }).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    try {
      for await (const m of messages) {
        if (decodeConfirmMarker(m.data) !== null) markers++;
        else {
          total++;
          bySubject[m.subject] = (bySubject[m.subject] ?? 0) + 1;
        }
        if (m.info.pending === 0) break;
      }
    } finally {
      await messages.close();
    }
    return { total, bySubject, markers };
  } finally {
    await nc.close();
  }
}

/** Last stream seq of each partition's subject (0 = none left), asked of the stream itself. */
export async function subjectLastSeqs(natsUrls: readonly string[], stream: string, partitions: number): Promise<number[]> {
  const nc = await connect({ servers: [...natsUrls], timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    return await Promise.all(
      Array.from({ length: partitions }, async (_, p) => (await jsm.streams.getMessage(stream, { last_by_subj: `haven.mail.${p}` }))?.seq ?? 0),
    );
  } finally {
    await nc.close();
  }
}

interface OwnedProgress {
  partition: number;
  serving: boolean;
  appliedSeq: number;
  consumerRestarts: number;
}

/**
 * Partitions whose serving owner has not applied its subject's last stream seq yet (e.g. a consumer still being
 * reopened after its NATS server died), as "p<n>:<applied>/<last>". Call once the load stopped and the outboxes
 * drained: the stream no longer grows, so an empty answer means every mailbox holds everything acknowledged.
 */
export async function partitionsBehind(nodes: readonly ClusterNode[], lastSeqs: readonly number[]): Promise<string[]> {
  const applied = new Map<number, OwnedProgress>();
  for (const n of nodes) {
    const res = await fetch(`${n.proc.url}/cluster/status`, { signal: AbortSignal.timeout(2000) });
    const s = (await res.json()) as { owned: OwnedProgress[] };
    for (const o of s.owned) if (o.serving) applied.set(o.partition, o);
  }
  const behind: string[] = [];
  lastSeqs.forEach((last, p) => {
    const o = applied.get(p);
    if (o === undefined || o.appliedSeq < last) behind.push(`p${p}:${o?.appliedSeq ?? "unserved"}/${last} restarts=${o?.consumerRestarts ?? 0}`);
  });
  return behind;
}

export async function readiness(n: ClusterNode): Promise<{ status: number; checks: { name: string; status: string; detail: string }[] }> {
  const res = await fetch(`${n.proc.url}/health/ready`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { checks?: { name: string; status: string; detail: string }[] };
  return { status: res.status, checks: body.checks ?? [] };
}

/** True when no node has anything left in its journal outbox (everything accepted is in the stream). */
export async function outboxesEmpty(nodes: readonly ClusterNode[]): Promise<boolean> {
  const all = await Promise.all(nodes.map(clusterStatus));
  return all.every((s) => s.outbox.size === 0);
}

/**
 * Waits (bounded) until every partition's owner applied the stream's last record of its subject as it is now; a
 * timeout names the partitions behind. Returns how long it took (ms).
 */
export async function waitOwnersCaughtUp(nodes: readonly ClusterNode[], natsUrls: readonly string[], stream: string, partitions: number, timeoutMs: number): Promise<number> {
  const startMs = performance.now();
  const lastSeqs = await subjectLastSeqs(natsUrls, stream, partitions);
  let behind: string[] = [];
  try {
    await waitFor("every owner applied its partition's last stream seq", async () => (behind = await partitionsBehind(nodes, lastSeqs)).length === 0, timeoutMs);
  } catch (e) {
    throw new Error(`${String(e)}; behind: ${behind.join(", ")}`);
  }
  return performance.now() - startMs;
}

/**
 * The scenarios' verdict once the load stopped and everything was drained: every 202 delivered exactly once, one
 * owner per partition throughout, no mailbox on any node holds anything more, and nothing is left in the stream.
 */
export async function expectCleanEnd(o: {
  delivered: readonly string[];
  stats: LoadStats;
  monitor: OwnershipMonitor;
  recipients: readonly Recipient[];
  nodes: readonly ClusterNode[];
  leftInStream: number;
}): Promise<void> {
  expectExactlyOnce(o.delivered, o.stats);
  expect(o.monitor.violations()).toEqual([]);
  for (const r of o.recipients) for (const n of o.nodes) expect(await deliver(n.ref, r)).toEqual([]);
  expect(o.leftInStream).toBe(0);
}
