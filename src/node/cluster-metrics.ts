// GET /cluster/metrics gathering: each node answers `haven.node.<id>.metrics` with its snapshot; any node asks all.
import type { NatsConnection } from "@nats-io/transport-node";
import { rpcRequest, rpcServe, type RpcServer } from "../cluster/rpc.ts";
import { NODE_ID_RE } from "../membership/types.ts";
import type { Logger } from "../observability/logger.ts";
import { parseSnapshot, type MetricsSnapshot } from "../observability/metrics-snapshot.ts";

export const metricsSubject = (nodeId: string): string => `haven.node.${nodeId}.metrics`;

/** A partition this node holds a lease on (for the dashboard's ring). */
export interface OwnedPartition {
  partition: number;
  epoch: number;
  serving: boolean;
}

/** One node's answer: its metrics and the partitions it holds. */
export interface NodeReport {
  nodeId: string;
  snapshot: MetricsSnapshot;
  owned: OwnedPartition[];
}

/** A node asked, and what came back (error: a short reason; the node is left out of the totals). */
export type NodeResult = { nodeId: string; ok: true; report: NodeReport } | { nodeId: string; ok: false; error: string };

export interface ClusterMetricsOptions {
  nc: NatsConnection;
  nodeId: string;
  /** This node's report (also the RPC answer). */
  report: () => Promise<NodeReport>;
  /** Node ids to ask (this node's live view, itself included). */
  liveNodes: () => readonly string[];
  logger: Logger;
  /** Per-node answer deadline. Default 1500 ms, 50..30_000. */
  timeoutMs?: number;
}

/** Bounds on another node's answer (a snapshot is usually tens of KB). */
const MAX_REPORT_BYTES = 4 * 1024 * 1024;
const MAX_OWNED = 65_536;
/** Nodes asked per gathering (a cluster larger than this is not a Haven deployment we support). */
const MAX_NODES = 256;

function parseOwned(v: unknown): OwnedPartition[] {
  if (!Array.isArray(v) || v.length > MAX_OWNED) throw new TypeError("owned");
  return v.map((o) => {
    const r = o as Record<string, unknown>;
    if (!Number.isInteger(r?.partition) || !Number.isInteger(r?.epoch) || typeof r?.serving !== "boolean") throw new TypeError("owned entry");
    return { partition: r.partition as number, epoch: r.epoch as number, serving: r.serving as boolean };
  });
}

export class ClusterMetrics {
  readonly #o: ClusterMetricsOptions;
  readonly #timeoutMs: number;
  #server: RpcServer | undefined;

  constructor(o: ClusterMetricsOptions) {
    if (!NODE_ID_RE.test(o.nodeId)) throw new RangeError("invalid node id");
    const t = o.timeoutMs ?? 1500;
    if (!Number.isInteger(t) || t < 50 || t > 30_000) throw new RangeError("timeoutMs must be an integer in 50..30000");
    this.#o = o;
    this.#timeoutMs = t;
  }

  /** Answers other nodes' requests for this node's report. */
  start(): void {
    if (this.#server !== undefined) return;
    const log = this.#o.logger;
    // Few concurrent scrapes are expected; more are refused at once instead of piling up snapshot work.
    this.#server = rpcServe(this.#o.nc, metricsSubject(this.#o.nodeId), () => this.#o.report(), {
      maxInFlight: 8,
      maxBytes: 1024,
      onError: (err) => log.warn({ err: err instanceof Error ? err.name : "unknown" }, "metrics rpc failed"),
    });
  }

  stop(): void {
    this.#server?.stop();
    this.#server = undefined;
  }

  /** Every live node's report (this node's without NATS), in node id order. Never throws. */
  async gather(): Promise<NodeResult[]> {
    const ids = [...new Set([this.#o.nodeId, ...this.#o.liveNodes()])].filter((id) => NODE_ID_RE.test(id)).sort().slice(0, MAX_NODES);
    return Promise.all(ids.map((id) => this.#ask(id)));
  }

  async #ask(nodeId: string): Promise<NodeResult> {
    try {
      if (nodeId === this.#o.nodeId) return { nodeId, ok: true, report: await this.#o.report() };
      const raw = await rpcRequest<Record<string, unknown>>(this.#o.nc, metricsSubject(nodeId), {}, { timeoutMs: this.#timeoutMs, maxBytes: MAX_REPORT_BYTES });
      if (raw?.nodeId !== nodeId) throw new TypeError("report from another node");
      return { nodeId, ok: true, report: { nodeId, snapshot: parseSnapshot(raw.snapshot), owned: parseOwned(raw.owned) } };
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 200) : "failed";
      return { nodeId, ok: false, error };
    }
  }
}
