// Cluster e2e harness: a 3-server NATS JetStream cluster plus N real Haven node processes sharing one mediator identity.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "bun:test";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import type { MediatorRef } from "../support/agent.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";

/** The address every node puts in the shared DID (a load balancer in production); agents talk to each node directly. */
const SHARED_PUBLIC_URL = "http://haven.cluster.test";

/** Fast failure detection for tests; every timing is an env variable of the node. */
export const FAST_TIMINGS: Record<string, string> = {
  HEARTBEAT_INTERVAL_MS: "100",
  SUSPECT_AFTER_MS: "400",
  DEAD_AFTER_MS: "800",
  LEASE_TTL_MS: "1500",
  CLUSTER_REQUEST_TIMEOUT_MS: "1000",
};

export interface ClusterNode {
  readonly id: string;
  readonly proc: NodeProcess;
  /** This node's own URLs with the shared DID. */
  readonly ref: MediatorRef;
}

export interface ClusterStatusJson {
  nodeId: string;
  state: string;
  live: string[];
  owned: { partition: number; epoch: number; serving: boolean }[];
  outbox: { size: number; degraded: boolean };
  controlPlane: { mode: string };
}

export interface TestCluster {
  readonly nats: NatsCluster;
  readonly nodes: ClusterNode[];
  readonly partitions: number;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: {
  nodes: number;
  partitions?: number;
  echo?: boolean;
  /** Extra environment for node i (0-based), e.g. a shifted wall clock. */
  nodeEnv?: (i: number) => Record<string, string>;
}): Promise<TestCluster> {
  const partitions = opts.partitions ?? 16;
  const nats = await startNatsCluster({ servers: 3 });
  const keysDir = mkdtempSync(join(tmpdir(), "haven-cluster-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  const nodes: ClusterNode[] = [];
  const cluster: TestCluster = {
    nats,
    nodes,
    partitions,
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.proc.stop()));
      await nats.stop();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
  try {
    const started = await Promise.all(
      Array.from({ length: opts.nodes }, (_, i) => {
        const id = `node-${String.fromCharCode(97 + i)}`;
        return startNodeProcess({
          echo: opts.echo ?? process.env.E2E_ECHO === "1",
          startTimeoutMs: 30_000,
          env: {
            ...FAST_TIMINGS,
            NATS_URL: nats.urls.join(","),
            MEDIATOR_KEYS_FILE: keysFile,
            PUBLIC_URL: SHARED_PUBLIC_URL,
            NODE_ID: id,
            PARTITIONS: String(partitions),
            NATS_REPLICAS: "3",
            ...(opts.nodeEnv?.(i) ?? {}),
          },
        }).then((proc) => ({ id, proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl } }));
      }),
    );
    nodes.push(...started);
    const dids = new Set(nodes.map((n) => n.ref.did));
    expect(dids.size).toBe(1); // one mediator identity across the cluster
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/**
 * One cluster for a whole test file: registers beforeAll (start, then wait until every partition is served by exactly
 * one node) and afterAll (stop). The returned object reads through to the running cluster; using it before beforeAll
 * ran (or after it failed) throws.
 */
export function useTestCluster(opts: Parameters<typeof startTestCluster>[0]): TestCluster {
  let current: TestCluster | undefined;
  beforeAll(async () => {
    current = await startTestCluster(opts);
    const c = current;
    await waitFor("every partition served by exactly one node", () => ownershipSettled(c.nodes, c.partitions));
  }, 90_000);
  afterAll(async () => {
    await current?.stop();
  }, 30_000);
  const get = (): TestCluster => {
    if (current === undefined) throw new Error("the test cluster is not running (its beforeAll failed or has not run)");
    return current;
  };
  return {
    get nats() {
      return get().nats;
    },
    get nodes() {
      return get().nodes;
    },
    get partitions() {
      return get().partitions;
    },
    stop: () => get().stop(),
  };
}

export async function clusterStatus(node: ClusterNode): Promise<ClusterStatusJson> {
  const res = await fetch(`${node.proc.url}/cluster/status`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`GET /cluster/status: ${res.status}`);
  return (await res.json()) as ClusterStatusJson;
}

/** Polls `cond` until true; fails naming `what` after the deadline (no fixed sleeps). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    await Bun.sleep(25);
  }
}

/**
 * True when the given nodes agree on the live set, and every partition is served by exactly one of them.
 */
export async function ownershipSettled(nodes: ClusterNode[], partitions: number): Promise<boolean> {
  const ids = nodes.map((n) => n.id).sort();
  const statuses = await Promise.all(nodes.map(clusterStatus));
  const served = new Map<number, string[]>();
  for (const s of statuses) {
    if (JSON.stringify([...s.live].sort()) !== JSON.stringify(ids)) return false;
    for (const o of s.owned) if (o.serving) served.set(o.partition, [...(served.get(o.partition) ?? []), s.nodeId]);
  }
  // Snapshots are taken at slightly different instants, so a handover can look doubled here: not settled yet.
  for (const owners of served.values()) if (owners.length > 1) return false;
  return served.size === partitions;
}

/** The node currently serving `mailbox`'s partition (by each node's own report), or undefined during a handover. */
export async function servingNode(nodes: ClusterNode[], partition: number): Promise<ClusterNode | undefined> {
  const statuses = await Promise.all(nodes.map(clusterStatus));
  const owners = nodes.filter((_, i) => statuses[i]!.owned.some((o) => o.partition === partition && o.serving));
  return owners.length === 1 ? owners[0] : undefined;
}
