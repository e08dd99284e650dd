// cluster:status: NATS servers and Haven nodes with pid, state, owned partitions and load (from each node's GET /cluster/status).
import { natsRunning } from "./nats.ts";
import { nodeRunning } from "./nodes.ts";
import { fetchJson } from "./progress.ts";
import type { ClusterState } from "./state.ts";

export interface NodeStatus {
  id: string;
  url: string;
  pid: number | null;
  /** "stopped" | "starting" | "ready" | "not-ready", or the node's own membership state ("alive", "draining", ...) when it reports one. */
  state: string;
  /** Number of partitions this node serves (lease held, replica caught up), or null if the node does not report it. */
  ownedPartitions: number | null;
  /** The partitions it serves, ascending. */
  partitions: number[] | null;
  /** Partitions leased but not yet serving (rebuilding from the stream), or null. */
  rebuilding: number | null;
  load: { eventLoopLagMs: number | null; rssBytes: number | null; queueDepth: number | null; openSockets: number | null } | null;
  /** Forwards in the local journal not yet in JetStream, and whether the node runs degraded (NATS unreachable). */
  outbox: { size: number | null; degraded: boolean | null } | null;
  /** Live members as this node sees them. */
  live: string[] | null;
}

export interface NatsStatus {
  name: string;
  url: string;
  pid: number | null;
  state: "stopped" | "healthy" | "unhealthy";
  metaLeader: string | null;
}

export interface ClusterStatus {
  dir: string;
  /** PUBLIC_URL shared by every node (null for a state file from before it was recorded). */
  publicUrl: string | null;
  nats: NatsStatus[];
  nodes: NodeStatus[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

type NodeReport = Pick<NodeStatus, "ownedPartitions" | "partitions" | "rebuilding" | "load" | "outbox" | "live"> & { state: string | null };

const MAX_REPORTED = 100_000;
const obj = (v: unknown): Record<string, unknown> | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/**
 * Reads a node's GET /cluster/status (src/node/cluster-status.ts) tolerantly: `state`, `owned`
 * [{ partition, epoch, serving }], `load` { eventLoopLagMs, rssBytes, queueDepth, openSockets }, `outbox` { size,
 * degraded }, `live`; anything missing or malformed is shown as "?". (`partitions` there is the cluster's count.)
 */
export function parseNodeReport(body: unknown): NodeReport {
  const b = obj(body) ?? {};
  const owned = Array.isArray(b.owned) ? b.owned.slice(0, MAX_REPORTED).map(obj) : null;
  const serving = owned?.filter((o) => o !== null && o.serving === true && typeof o.partition === "number").map((o) => o!.partition as number);
  const l = obj(b.load);
  const ob = obj(b.outbox);
  return {
    state: typeof b.state === "string" ? b.state : null,
    ownedPartitions: serving ? serving.length : null,
    partitions: serving ? serving.sort((x, y) => x - y) : null,
    rebuilding: owned && serving ? owned.length - serving.length : null,
    load: l ? { eventLoopLagMs: num(l.eventLoopLagMs), rssBytes: num(l.rssBytes), queueDepth: num(l.queueDepth), openSockets: num(l.openSockets) } : null,
    outbox: ob ? { size: num(ob.size), degraded: typeof ob.degraded === "boolean" ? ob.degraded : null } : null,
    live: Array.isArray(b.live) ? b.live.slice(0, MAX_REPORTED).filter((x): x is string => typeof x === "string") : null,
  };
}

export async function collectStatus(state: ClusterState): Promise<ClusterStatus> {
  const nats = await Promise.all(
    state.nats.map(async (s): Promise<NatsStatus> => {
      const running = natsRunning(s);
      const h = running ? await fetchJson(`http://127.0.0.1:${s.monitorPort}/healthz`) : null;
      const jsz = running ? await fetchJson(`http://127.0.0.1:${s.monitorPort}/jsz`) : null;
      const leader = (jsz?.body as { meta_cluster?: { leader?: string } } | undefined)?.meta_cluster?.leader ?? null;
      return { name: s.name, url: `nats://127.0.0.1:${s.port}`, pid: running ? s.pid : null, state: !running ? "stopped" : h?.status === 200 ? "healthy" : "unhealthy", metaLeader: leader };
    }),
  );
  const nodes = await Promise.all(
    state.nodes.map(async (n): Promise<NodeStatus> => {
      const running = nodeRunning(n);
      const base = { id: n.id, url: n.url, pid: running ? n.pid : null };
      const unknown: NodeReport = { state: null, ownedPartitions: null, partitions: null, rebuilding: null, load: null, outbox: null, live: null };
      if (!running) return { ...base, ...unknown, state: "stopped" };
      const [ready, report] = await Promise.all([fetchJson(`${n.url}/health/ready`), fetchJson(`${n.url}/cluster/status`)]);
      const parsed = report?.status === 200 ? parseNodeReport(report.body) : unknown;
      const health = ready === null ? "starting" : ready.status === 200 ? "ready" : "not-ready";
      // The membership state says alive/draining/leaving; readiness adds whether a balancer should send here.
      return { ...base, ...parsed, state: parsed.state === null ? health : `${parsed.state}${health === "ready" ? "" : ` (${health})`}` };
    }),
  );
  return { dir: state.dir, publicUrl: state.publicUrl ?? null, nats, nodes };
}

const show = (v: number | string | null | undefined, unit = ""): string => (v === null || v === undefined ? "?" : `${v}${unit}`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

export function renderStatus(s: ClusterStatus): string {
  const natsRows = [["NATS", "URL", "PID", "STATE", "META LEADER"], ...s.nats.map((n) => [n.name, n.url, show(n.pid), n.state, show(n.metaLeader)])];
  const nodeRows = [
    ["NODE", "URL", "PID", "STATE", "PARTITIONS", "OUTBOX", "LAG", "RSS", "QUEUE", "SOCKETS"],
    ...s.nodes.map((n) => [
      n.id,
      n.url,
      show(n.pid),
      n.state,
      n.rebuilding ? `${show(n.ownedPartitions)} (+${n.rebuilding} rebuilding)` : show(n.ownedPartitions),
      n.outbox === null ? "?" : `${show(n.outbox.size)}${n.outbox.degraded ? " degraded" : ""}`,
      show(n.load?.eventLoopLagMs === null || n.load?.eventLoopLagMs === undefined ? null : Math.round(n.load.eventLoopLagMs), "ms"),
      show(n.load?.rssBytes === null || n.load?.rssBytes === undefined ? null : Math.round(n.load.rssBytes / 2 ** 20), "MiB"),
      show(n.load?.queueDepth),
      show(n.load?.openSockets),
    ]),
  ];
  const served = s.nodes.reduce((sum, n) => sum + (n.ownedPartitions ?? 0), 0);
  const footer = s.publicUrl ? `\npublic URL (in the shared DID): ${s.publicUrl}; partitions served: ${served}\n` : "";
  return `${table(natsRows)}\n\n${s.nodes.length > 0 ? table(nodeRows) : "no Haven nodes"}\n${footer}`;
}
