// A node's metrics: one Metrics per node, scrape-time collectors, readiness gauges, the cluster gathering, the routes.
import { statfs } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/types.ts";
import type { Logger } from "../observability/logger.ts";
import { MEMBER_STATES, type GossipState } from "../observability/metrics-catalogue.ts";
import { Metrics } from "../observability/metrics.ts";
import { inSpan } from "../observability/tracing.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Health } from "../transport/health.ts";
import { metricsRoutes, type ExtraRoute, type GatheredNode } from "../transport/metrics-routes.ts";
import type { ClusterMetrics, NodeReport } from "./cluster-metrics.ts";
import type { ClusterMode } from "./cluster-mode.ts";
import type { MailboxPort } from "../mailbox/port.ts";
import { readMailboxUsage } from "../mailbox/usage-stats.ts";
import type { ReplicatedJournal } from "../replication/journal.ts";
import type { Quota } from "../storage/types.ts";

export interface NodeMetricsOptions {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** Reported in haven_node_info{version}. */
  version?: string;
  /** A scrape re-runs readiness when the last result (from /health/ready or a scrape) is older. Default 10_000 ms. */
  readinessMaxAgeMs?: number;
}

export interface NodeMetrics {
  readonly metrics: Metrics;
  /** GET /metrics, /cluster/metrics, /dashboard: pass to createHttpApp as `routes`. */
  readonly routes: ExtraRoute[];
  /** Wraps readiness so every run (HTTP or scrape) sets haven_ready and haven_health_check_ok{check}. */
  observeHealth(health: Health): Health;
  /** Live sockets, sampled at scrape time. */
  attachApp(app: { readonly wsConnections: number }): void;
  /** Single node: live mailbox actors, sampled at scrape time. */
  attachActors(actors: { readonly liveActors: number }): void;
  /**
   * Mailbox gauges (count, depth, bytes, fullest vs quota) read at scrape time from the SQLite files `paths()`
   * names: the node's database single node, the owned partitions' caches in cluster mode.
   */
  attachMailboxFiles(paths: () => readonly string[], quota: Quota): void;
  /** Replication gauges and the JetStream publish histogram from the cluster's journal. */
  attachJournal(journal: Pick<ReplicatedJournal, "status" | "observe">): void;
  /** Cluster mode: collectors over the cluster's state and the NATS gathering for /cluster/metrics. */
  attachCluster(cluster: ClusterMode): Promise<void>;
  /** haven_ready is 0 from now on (the node is draining). */
  draining(): void;
  stop(): Promise<void>;
}

/** Counter values sampled from a component's own cumulative counters: add what grew since the last scrape. */
class Delta {
  #last = new Map<string, number>();
  of(key: string, now: number): number {
    const prev = this.#last.get(key) ?? 0;
    this.#last.set(key, now);
    return now > prev ? now - prev : 0;
  }
}

export function createNodeMetrics(o: NodeMetricsOptions): NodeMetrics {
  const { config } = o;
  const cluster = config.cluster.enabled;
  const nodeId = cluster ? config.cluster.nodeId : "local";
  const metrics = new Metrics({ nodeId, version: o.version ?? "0.1.0", mode: cluster ? "cluster" : "single" });
  const log = o.logger.child({ module: "metrics" });
  const readinessMaxAgeMs = o.readinessMaxAgeMs ?? 10_000;
  let health: Health | undefined;
  let readinessAtMs = Number.NEGATIVE_INFINITY;
  let isDraining = false;
  let clusterMode: ClusterMode | undefined;
  let gathering: ClusterMetrics | undefined;
  let nc: NatsConnection | undefined;

  const observeHealth = (h: Health): Health => {
    const observed: Health = {
      async ready() {
        const report = await h.ready();
        readinessAtMs = o.clock.monotonicMs();
        for (const c of report.checks) metrics.setHealthCheck(c.name, c.status === "pass");
        metrics.setReady(report.status === "pass" && !isDraining);
        return report;
      },
    };
    health = observed;
    return observed;
  };

  metrics.addCollector(async () => {
    const s = await statfs(config.storage.dataDir);
    metrics.setDisk({ freeBytes: Number(s.bavail) * Number(s.bsize), sizeBytes: Number(s.blocks) * Number(s.bsize) });
  });
  metrics.addCollector(async () => {
    if (health !== undefined && o.clock.monotonicMs() - readinessAtMs >= readinessMaxAgeMs) await health.ready();
    if (isDraining) metrics.setReady(false);
  });

  const ownReport = async (): Promise<NodeReport> => ({
    nodeId,
    snapshot: await metrics.snapshot(),
    owned: clusterMode?.status().owned ?? [],
  });

  const gather = async (): Promise<GatheredNode[]> => {
    if (gathering === undefined) {
      const r = await ownReport();
      return [{ nodeId, ok: true, snapshot: r.snapshot, owned: r.owned }];
    }
    const results = await gathering.gather();
    return results.map((r) => (r.ok ? { nodeId: r.nodeId, ok: true, snapshot: r.report.snapshot, owned: r.report.owned } : { nodeId: r.nodeId, ok: false, error: r.error }));
  };

  const attachCluster = async (c: ClusterMode): Promise<void> => {
    // Loaded only in cluster mode: a single node never pays the memory of the NATS client (see node.ts).
    const [{ KvMediationStore }, { connectNats }, { ClusterMetrics }] = await Promise.all([
      import("../controlplane/index.ts"),
      import("./nats-connection.ts"),
      import("./cluster-metrics.ts"),
    ]);
    clusterMode = c;
    const delta = new Delta();
    metrics.addCollector(() => {
      const s = c.status();
      metrics.setOutbox(s.outbox.size);
      metrics.outboxRelayed(delta.of("relayed", s.outbox.relayed));
      metrics.setLeasesHeld(s.owned.length);
      metrics.setPartitionsOwned(s.owned.filter((p) => p.serving).length);
      metrics.ownershipChanged("acquired", delta.of("gained", s.ownershipEvents.gained));
      metrics.ownershipChanged("lost", delta.of("lost", s.ownershipEvents.lost));
      const counts: Partial<Record<GossipState, number>> = {};
      for (const m of s.members) if ((MEMBER_STATES as readonly string[]).includes(m.state)) counts[m.state as GossipState] = (counts[m.state as GossipState] ?? 0) + 1;
      metrics.setGossipView(counts);
      metrics.setFallbackActive(s.controlPlane.fallback);
      for (let i = Math.min(1000, delta.of("fallbacks", s.controlPlane.edgeFallbackTriggered)); i > 0; i--) metrics.fallbackTriggered();
    });
    const mediations = c.storage.mediations;
    if (mediations instanceof KvMediationStore) {
      metrics.addCollector(() => {
        const st = mediations.stats();
        metrics.cacheLookups(delta.of("hits", st.cacheHits), delta.of("misses", st.cacheMisses));
      });
    }
    // A connection of its own: scrapes never queue behind mailbox traffic, and cluster-mode.ts stays untouched.
    nc = await connectNats(config, "metrics");
    gathering = new ClusterMetrics({ nc, nodeId, report: ownReport, liveNodes: () => c.status().live, logger: log });
    gathering.start();
  };

  let unobserveJournal: (() => void) | undefined;
  const attachJournal = (journal: Pick<ReplicatedJournal, "status" | "observe">): void => {
    unobserveJournal?.();
    unobserveJournal = journal.observe({
      // The same measurement is the pipeline's "replicate" stage (publish until JetStream acknowledged it).
      published: (s) => {
        metrics.observeJetStreamPublish(s);
        metrics.observeStage("replicate", s);
      },
      publishFailed: () => metrics.jetStreamPublishFailed(),
    });
    metrics.addCollector(() => {
      const j = journal.status();
      const lagMs = j.oldestPendingAtMs === null ? 0 : Math.max(0, o.clock.nowMs() - j.oldestPendingAtMs);
      metrics.setReplication({ pendingMessages: j.outboxSize, lagSeconds: lagMs / 1000 });
    });
  };

  return {
    metrics,
    routes: metricsRoutes({ metrics, gather }),
    attachMailboxFiles(paths, quota) {
      metrics.addCollector(() => {
        const u = readMailboxUsage(paths(), quota);
        metrics.setMailboxes(u);
      });
    },
    attachJournal,
    observeHealth,
    attachApp(app) {
      metrics.addCollector(() => {
        metrics.setWebsocketConnections(app.wsConnections);
      });
    },
    attachActors(actors) {
      metrics.addCollector(() => metrics.setActorsLive(actors.liveActors));
    },
    attachCluster,
    draining() {
      isDraining = true;
      metrics.setReady(false);
    },
    async stop() {
      unobserveJournal?.();
      gathering?.stop();
      gathering = undefined;
      await nc?.close().catch(() => {});
      nc = undefined;
      metrics.close();
    },
  };
}

/**
 * Times MailboxPort.deliver as a pipeline stage: "store" single node (durable SQLite group commit), "journal" in
 * cluster mode (ClusterMailbox.deliver = local journal + JetStream ack). Other operations pass through unchanged.
 */
export function timedMailbox(port: MailboxPort, metrics: Pick<Metrics, "startStage">, stage: "store" | "journal"): MailboxPort {
  return {
    list: (mailbox, opts) => port.list(mailbox, opts),
    stats: (mailbox, recipientDid) => port.stats(mailbox, recipientDid),
    remove: (mailbox, ids) => port.remove(mailbox, ids),
    subscribe: (mailbox, listener, opts) => port.subscribe(mailbox, listener, opts),
    async deliver(req) {
      const end = metrics.startStage(stage);
      try {
        return await inSpan(stage, () => port.deliver(req));
      } finally {
        end();
      }
    },
  };
}
