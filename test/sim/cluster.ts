// The simulated cluster: 3 real nats-server processes and N real Haven node processes, each reaching NATS only through its own fault proxies.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { FAST_TIMINGS, type ClusterNode, type ClusterStatusJson } from "../cluster-e2e/harness.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess } from "../support/node-process.ts";
import { nodeIdOf } from "./schedule.ts";

const SHARED_PUBLIC_URL = "http://haven.cluster.test";
export const SIM_ADMIN_TOKEN = "sim-admin-token-0123456789abcdef";
export const SIM_WEBHOOK_SECRET = "sim-webhook-secret-0123456789abcdef";
/**
 * Breaker settings of the sim's nodes: the default threshold, stated so the breaker checker knows it; and a short open
 * period (the default is 300 s), so an opened breaker probes and closes within a run after the endpoint heals.
 */
export const SIM_BREAKER_FAILURE_THRESHOLD = 5;
export const SIM_BREAKER_OPEN_MS = 1_500;

export interface SimNode extends ClusterNode {
  /** One proxy per NATS server: this node's only way to NATS. */
  readonly proxies: FaultProxy[];
}

export interface SimCluster {
  readonly nats: NatsCluster;
  readonly nodes: SimNode[];
  readonly partitions: number;
  stop(): Promise<void>;
}

/**
 * Like test/cluster-e2e/scenario34-support.ts startProxiedCluster, plus a node entry (for planted-bug builds), the
 * admin token (webhooks) and extra env. Each node lists only its own proxies in NATS_URL, so cutting them really
 * partitions it from NATS.
 */
export async function startSimCluster(opts: { nodes: number; partitions: number; seed: number; entry?: string; env?: Record<string, string> }): Promise<SimCluster> {
  const nats = await startNatsCluster({ servers: 3 });
  const keysDir = mkdtempSync(join(tmpdir(), "haven-sim-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  const nodes: SimNode[] = [];
  const proxies: FaultProxy[] = [];
  let stopped = false;
  const cluster: SimCluster = {
    nats,
    nodes,
    partitions: opts.partitions,
    async stop() {
      if (stopped) return;
      stopped = true;
      // A node left paused by a failed run would ignore SIGTERM until the stop bound's SIGKILL: resume it first.
      for (const n of nodes) if (n.proc.alive()) resume(n.proc.pid);
      await Promise.allSettled(nodes.map((n) => n.proc.stop()));
      for (const p of proxies) p.close();
      await nats.stop();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
  try {
    await loadOrCreateIdentityFile(keysFile);
    const started = await Promise.all(
      Array.from({ length: opts.nodes }, async (_, i) => {
        const id = nodeIdOf(i);
        const own = nats.urls.map((target, k) => FaultProxy.start({ target, random: seededRandom(BigInt(opts.seed) * 16n + BigInt(i * 3 + k)) }));
        proxies.push(...own);
        const proc = await startNodeProcess({
          echo: process.env.E2E_ECHO === "1",
          startTimeoutMs: 40_000,
          ...(opts.entry !== undefined ? { entry: opts.entry } : {}),
          env: {
            ...FAST_TIMINGS,
            NATS_URL: own.map((p) => p.url).join(","),
            MEDIATOR_KEYS_FILE: keysFile,
            PUBLIC_URL: SHARED_PUBLIC_URL,
            NODE_ID: id,
            PARTITIONS: String(opts.partitions),
            NATS_REPLICAS: "3",
            ADMIN_TOKEN: SIM_ADMIN_TOKEN,
            BREAKER_FAILURE_THRESHOLD: String(SIM_BREAKER_FAILURE_THRESHOLD),
            BREAKER_OPEN_MS: String(SIM_BREAKER_OPEN_MS),
            ...(process.env.E2E_LOG_LEVEL ? { LOG_LEVEL: process.env.E2E_LOG_LEVEL } : {}),
            ...opts.env,
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

function resume(pid: number): void {
  try {
    process.kill(pid, "SIGCONT");
  } catch {
    // already gone
  }
}

export async function statusOf(node: ClusterNode, timeoutMs = 2_000): Promise<ClusterStatusJson> {
  const res = await fetch(`${node.proc.url}/cluster/status`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`GET /cluster/status on ${node.id}: ${res.status}`);
  return (await res.json()) as ClusterStatusJson;
}

/** Admin API call with the simulation's token. */
export async function adminCall(node: ClusterNode, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${node.proc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${SIM_ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}
