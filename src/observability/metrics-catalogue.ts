// The metric catalogue: every haven_* metric, its type, labels (each from a fixed set) and cluster aggregator.
import type { Aggregator } from "prom-client";

/** Pipeline stages timed by `haven_stage_duration_seconds` (the OTel span names of the same stages). */
export const STAGES = ["unpack", "journal", "replicate", "route", "store", "deliver"] as const;
export type Stage = (typeof STAGES)[number];

/** DIDComm protocols timed by `haven_request_duration_seconds`; anything else is counted as "other". */
export const PROTOCOLS = [
  "routing",
  "pickup",
  "coordinate_mediation",
  "trust_ping",
  "discover_features",
  "webhooks",
  "other",
] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Why a forward was refused. The last two are the server's fault (they feed the error-rate alert). */
export const REJECT_REASONS = [
  "malformed",
  "too_large",
  "unpack_failed",
  "unknown_recipient",
  "replay",
  "rate_limited",
  "quota_exceeded",
  "unavailable",
  "internal",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
/** Reasons that are Haven's fault rather than the sender's. */
export const SERVER_REJECT_REASONS: readonly RejectReason[] = ["unavailable", "internal"];

export const OWNERSHIP_CHANGES = ["acquired", "released", "lost"] as const;
export type OwnershipChange = (typeof OWNERSHIP_CHANGES)[number];

/** Member states of the gossip view (src/membership/types.ts MemberState). */
export const MEMBER_STATES = ["alive", "draining", "leaving", "suspect", "dead"] as const;
export type GossipState = (typeof MEMBER_STATES)[number];

export const BREAKER_STATES = ["closed", "open", "half_open"] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export const DELIVERY_KINDS = ["webhook", "push", "reply"] as const;
export type DeliveryKind = (typeof DELIVERY_KINDS)[number];

/** Final fate of an outbound event. */
export const DELIVERY_OUTCOMES = ["delivered", "dead_lettered"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** Result of one outbound HTTP attempt (waiting on an open breaker is not an attempt). */
export const ATTEMPT_RESULTS = ["success", "http_4xx", "http_5xx", "timeout", "network"] as const;
export type AttemptResult = (typeof ATTEMPT_RESULTS)[number];

/** Readiness checks reported by `haven_health_check_ok` (the check names of GET /health/ready); others are "other". */
export const HEALTH_CHECKS = [
  "storage",
  "disk",
  "event_loop",
  "nats",
  "jetstream",
  "membership",
  "replication",
  "control_plane",
  "cluster",
  "websocket",
  "other",
] as const;
export type HealthCheck = (typeof HEALTH_CHECKS)[number];

export const CACHE_RESULTS = ["hit", "miss"] as const;

/** Sub-millisecond to seconds: unpack is ~50 us, replicate a few ms, a slow route up to seconds. */
export const FAST_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Outbound HTTP calls: milliseconds to the per-call timeout. */
export const SLOW_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** "static": one value per process, set at construction (node id, version). */
type Labels = Readonly<Record<string, readonly string[] | "destination" | "static">>;

export interface MetricDef {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  /** Label name -> its fixed value set (pre-initialised to 0), "destination" (capped, see DestinationLabels) or "static". */
  readonly labels: Labels;
  /**
   * How /cluster/metrics combines nodes. "sum" (the default) for every per-node share (each node reports
   * only what it owns, so totals equal the sum); "max"/"average" for gauges that are each node's view of
   * something shared.
   */
  readonly aggregator?: Aggregator;
  readonly buckets?: readonly number[];
}

const def = <const D extends MetricDef>(d: D): D => d;

export const CATALOGUE = {
  nodeInfo: def({ name: "haven_node_info", type: "gauge", help: "Always 1; labels identify the node build and mode.", labels: { node_id: "static", version: "static", mode: ["single", "cluster"] } }),
  gcForced: def({ name: "haven_gc_forced_duration_seconds", type: "histogram", help: "Full garbage collections forced by the memory governor (RSS above MEMORY_SOFT_LIMIT_BYTES) and their pause; Bun reports no GC events to nodejs_gc_duration_seconds.", labels: {}, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] }),
  ready: def({ name: "haven_ready", type: "gauge", help: "1 when GET /health/ready answers 200.", labels: {} }),
  healthCheckOk: def({ name: "haven_health_check_ok", type: "gauge", help: "1 when the readiness check passes.", labels: { check: HEALTH_CHECKS } }),
  diskFreeBytes: def({ name: "haven_disk_free_bytes", type: "gauge", help: "Free bytes on the DATA_DIR filesystem.", labels: {} }),
  diskSizeBytes: def({ name: "haven_disk_size_bytes", type: "gauge", help: "Size in bytes of the DATA_DIR filesystem.", labels: {} }),

  forwardsAccepted: def({ name: "haven_forwards_accepted_total", type: "counter", help: "Forwards acknowledged to the sender (durable).", labels: {} }),
  forwardsRejected: def({ name: "haven_forwards_rejected_total", type: "counter", help: "Forwards refused, by reason.", labels: { reason: REJECT_REASONS } }),
  requestDuration: def({ name: "haven_request_duration_seconds", type: "histogram", help: "Time to handle one inbound DIDComm message, by protocol.", labels: { protocol: PROTOCOLS }, buckets: FAST_BUCKETS_SECONDS }),
  stageDuration: def({ name: "haven_stage_duration_seconds", type: "histogram", help: "Time spent in one pipeline stage.", labels: { stage: STAGES }, buckets: FAST_BUCKETS_SECONDS }),

  mailboxes: def({ name: "haven_mailboxes", type: "gauge", help: "Mailboxes held by this node (owned partitions).", labels: {} }),
  mailboxMessages: def({ name: "haven_mailbox_messages", type: "gauge", help: "Messages queued in this node's mailboxes.", labels: {} }),
  mailboxBytes: def({ name: "haven_mailbox_bytes", type: "gauge", help: "Bytes queued in this node's mailboxes.", labels: {} }),
  mailboxDepthMax: def({ name: "haven_mailbox_depth_max_messages", type: "gauge", help: "Messages in the deepest mailbox of this node.", labels: {}, aggregator: "max" }),
  mailboxFillMax: def({ name: "haven_mailbox_fill_ratio_max", type: "gauge", help: "Fullest mailbox relative to its quota (0..1, max of count and bytes).", labels: {}, aggregator: "max" }),
  messagesExpired: def({ name: "haven_messages_expired_total", type: "counter", help: "Queued messages dropped by TTL expiry.", labels: {} }),

  websocketConnections: def({ name: "haven_websocket_connections", type: "gauge", help: "Open WebSocket connections (live sockets).", labels: {} }),
  actorsLive: def({ name: "haven_actors_live", type: "gauge", help: "Mailbox actors currently running.", labels: {} }),
  unpackPoolCalls: def({ name: "haven_unpack_pool_calls", type: "gauge", help: "Envelopes unpacked since start while UNPACK_WORKERS > 0, by where: on a worker thread, or in-thread (authcrypt, full queue, worker exit).", labels: { path: ["worker", "in_thread"] } }),
  actorRestarts: def({ name: "haven_actor_restarts_total", type: "counter", help: "Mailbox actors restarted by their supervisor.", labels: {} }),

  outboxMessages: def({ name: "haven_outbox_messages", type: "gauge", help: "Entries in the local SQLite outbox (waiting for NATS).", labels: {} }),
  outboxRelayed: def({ name: "haven_outbox_relayed_total", type: "counter", help: "Outbox entries relayed to JetStream.", labels: {} }),
  replicationPending: def({ name: "haven_replication_pending_messages", type: "gauge", help: "Journaled entries not yet acknowledged by JetStream.", labels: {} }),
  replicationLag: def({ name: "haven_replication_lag_seconds", type: "gauge", help: "Age of the oldest journaled entry not yet in JetStream (0 when none).", labels: {}, aggregator: "max" }),
  jetstreamPublishDuration: def({ name: "haven_jetstream_publish_duration_seconds", type: "histogram", help: "JetStream publish round trip (until the ack).", labels: {}, buckets: FAST_BUCKETS_SECONDS }),
  jetstreamPublishFailures: def({ name: "haven_jetstream_publish_failures_total", type: "counter", help: "JetStream publishes that failed or timed out.", labels: {} }),

  ownershipChanges: def({ name: "haven_ownership_changes_total", type: "counter", help: "Partition ownership changes on this node.", labels: { change: OWNERSHIP_CHANGES } }),
  partitionsOwned: def({ name: "haven_partitions_owned", type: "gauge", help: "Partitions this node owns on the ring.", labels: {} }),
  leasesHeld: def({ name: "haven_leases_held", type: "gauge", help: "Fenced partition leases this node holds.", labels: {} }),
  gossipMembers: def({ name: "haven_gossip_members", type: "gauge", help: "Members in this node's gossip view, by state.", labels: { state: MEMBER_STATES }, aggregator: "max" }),

  fallbackActive: def({ name: "haven_controlplane_fallback_active", type: "gauge", help: "1 while serving last-known-good control-plane cache (fallback mode).", labels: {} }),
  fallbackTriggered: def({ name: "haven_edge_fallback_triggered_total", type: "counter", help: "Times fallback mode was entered.", labels: {} }),
  cacheRequests: def({ name: "haven_cache_requests_total", type: "counter", help: "Control-plane cache lookups, by result.", labels: { result: CACHE_RESULTS } }),
  cacheMissRate: def({ name: "haven_cache_miss_rate", type: "gauge", help: "Control-plane cache miss ratio over the last lookups (0..1).", labels: {}, aggregator: "average" }),

  deliveries: def({ name: "haven_deliveries_total", type: "counter", help: "Outbound events finished, by kind and outcome.", labels: { kind: DELIVERY_KINDS, outcome: DELIVERY_OUTCOMES } }),
  deliveryAttempts: def({ name: "haven_delivery_attempts_total", type: "counter", help: "Outbound HTTP attempts, by kind and result.", labels: { kind: DELIVERY_KINDS, result: ATTEMPT_RESULTS } }),
  deliveryDuration: def({ name: "haven_delivery_duration_seconds", type: "histogram", help: "Duration of one outbound HTTP attempt.", labels: { kind: DELIVERY_KINDS }, buckets: SLOW_BUCKETS_SECONDS }),
  deliveryPending: def({ name: "haven_delivery_pending_events", type: "gauge", help: "Outbound events waiting (backoff or open breaker) on this node.", labels: {} }),
  dlqEvents: def({ name: "haven_dlq_events", type: "gauge", help: "Events in the dead-letter queue owned by this node.", labels: {} }),
  dlqReplayed: def({ name: "haven_dlq_replayed_total", type: "counter", help: "Dead-lettered events put back for delivery.", labels: {} }),
  breakerState: def({ name: "haven_breaker_state", type: "gauge", help: "1 for the current circuit-breaker state of a destination (scheme://host:port).", labels: { destination: "destination", state: BREAKER_STATES }, aggregator: "max" }),
  breakerResets: def({ name: "haven_breaker_resets_total", type: "counter", help: "Circuit breakers force-closed by an operator through this node, by the store written (shared KV or the node-local fallback).", labels: { store: ["shared", "local"] } }),
  breakerTransitions: def({ name: "haven_breaker_transitions_total", type: "counter", help: "Circuit-breaker transitions made by this node, by destination and new state.", labels: { destination: "destination", to: BREAKER_STATES } }),
  breakerLocalFallback: def({ name: "haven_breaker_local_fallback_active", type: "gauge", help: "1 while breakers run in memory because the shared KV is unreachable.", labels: {} }),

  invalidObservations: def({ name: "haven_metrics_invalid_observations_total", type: "counter", help: "Negative or non-finite values passed to a metrics helper (dropped; a caller bug).", labels: {} }),
  collectorErrors: def({ name: "haven_metrics_collector_errors_total", type: "counter", help: "Scrape-time collectors that threw.", labels: {} }),
} as const;

export type CatalogueKey = keyof typeof CATALOGUE;

/** Name of the gauge /cluster/metrics adds: how many node snapshots were aggregated. */
export const NODES_REPORTING = "haven_cluster_nodes_reporting";

/** Every metric name Haven itself defines (histograms without their _bucket/_sum/_count suffixes). */
export const HAVEN_METRIC_NAMES: readonly string[] = [...Object.values(CATALOGUE).map((d) => d.name), NODES_REPORTING];
