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
  /** Number of partitions this node owns, or null if the node does not report it. */
  ownedPartitions: number | null;
  partitions: number[] | null;
  load: { eventLoopLagMs: number | null; rssBytes: number | null; queueDepth: number | null; openSockets: number | null } | null;
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
  nats: NatsStatus[];
  nodes: NodeStatus[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * Reads a node's /cluster/status tolerantly: `state`, `ownedPartitions` (number or array), `partitions` (array) and
 * `load` { eventLoopLagMs, rssBytes, queueDepth, openSockets }; anything missing is shown as "?".
 */
function parseNodeReport(body: unknown): Pick<NodeStatus, "ownedPartitions" | "partitions" | "load"> & { state: string | null } {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const owned = b.ownedPartitions ?? b.partitions;
  const partitions = Array.isArray(owned) ? owned.filter((p): p is number => typeof p === "number") : null;
  const l = (typeof b.load === "object" && b.load !== null ? b.load : null) as Record<string, unknown> | null;
  return {
    state: typeof b.state === "string" ? b.state : null,
    ownedPartitions: partitions ? partitions.length : num(owned),
    partitions,
    load: l ? { eventLoopLagMs: num(l.eventLoopLagMs), rssBytes: num(l.rssBytes), queueDepth: num(l.queueDepth), openSockets: num(l.openSockets) } : null,
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
      if (!running) return { ...base, state: "stopped", ownedPartitions: null, partitions: null, load: null };
      const [ready, report] = await Promise.all([fetchJson(`${n.url}/health/ready`), fetchJson(`${n.url}/cluster/status`)]);
      const parsed = report?.status === 200 ? parseNodeReport(report.body) : { state: null, ownedPartitions: null, partitions: null, load: null };
      const health = ready === null ? "starting" : ready.status === 200 ? "ready" : "not-ready";
      return { ...base, state: parsed.state ?? health, ownedPartitions: parsed.ownedPartitions, partitions: parsed.partitions, load: parsed.load };
    }),
  );
  return { dir: state.dir, nats, nodes };
}

const show = (v: number | string | null | undefined, unit = ""): string => (v === null || v === undefined ? "?" : `${v}${unit}`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

export function renderStatus(s: ClusterStatus): string {
  const natsRows = [["NATS", "URL", "PID", "STATE", "META LEADER"], ...s.nats.map((n) => [n.name, n.url, show(n.pid), n.state, show(n.metaLeader)])];
  const nodeRows = [
    ["NODE", "URL", "PID", "STATE", "PARTITIONS", "LAG", "RSS", "QUEUE", "SOCKETS"],
    ...s.nodes.map((n) => [
      n.id,
      n.url,
      show(n.pid),
      n.state,
      show(n.ownedPartitions),
      show(n.load?.eventLoopLagMs === null || n.load?.eventLoopLagMs === undefined ? null : Math.round(n.load.eventLoopLagMs), "ms"),
      show(n.load?.rssBytes === null || n.load?.rssBytes === undefined ? null : Math.round(n.load.rssBytes / 2 ** 20), "MiB"),
      show(n.load?.queueDepth),
      show(n.load?.openSockets),
    ]),
  ];
  return `${table(natsRows)}\n\n${s.nodes.length > 0 ? table(nodeRows) : "no Haven nodes"}\n`;
}
