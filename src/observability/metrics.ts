// Metrics: one private prom-client Registry per node, with typed helpers so callers never touch prom-client.
import { collectDefaultMetrics, Registry } from "prom-client";
import {
  ATTEMPT_RESULTS,
  BREAKER_STATES,
  DELIVERY_KINDS,
  HEALTH_CHECKS,
  MEMBER_STATES,
  OWNERSHIP_CHANGES,
  REJECT_REASONS,
  STAGES,
  type AttemptResult,
  type BreakerState,
  type DeliveryKind,
  type DeliveryOutcome,
  type GossipState,
  type HealthCheck,
  type OwnershipChange,
  type RejectReason,
  type Stage,
} from "./metrics-catalogue.ts";
import { DestinationLabels, inSet, protocolLabel } from "./metrics-labels.ts";
import { buildCatalogue, type Built } from "./metrics-registry.ts";
import { toSnapshot, type MetricsSnapshot } from "./metrics-snapshot.ts";
import { RatioWindow } from "./metrics-window.ts";

export interface MetricsOptions {
  /** Reported in `haven_node_info{node_id}`; default "local". */
  nodeId?: string;
  /** Reported in `haven_node_info{version}`; default "0.0.0". */
  version?: string;
  mode?: "single" | "cluster";
  /** Process metrics (RSS, CPU, GC, event-loop lag: standard `process_*` and `nodejs_*` names). Default true. */
  defaultMetrics?: boolean;
  /** Event-loop lag sampling resolution. Default 10 ms, 1..1000. */
  eventLoopPrecisionMs?: number;
  /** Distinct breaker destinations with their own label (the rest are "other"). Default 50, 1..1000. */
  maxDestinations?: number;
  /** Lookups `haven_cache_miss_rate` covers. Default 1000, 1..1_000_000. */
  cacheWindowSize?: number;
}

/** Mailbox gauges, sampled by the mailbox layer (usually from a scrape-time collector). */
export interface MailboxStats {
  mailboxes: number;
  messages: number;
  bytes: number;
  /** Messages in the deepest mailbox. */
  maxDepthMessages: number;
  /** Fullest mailbox relative to its quota, 0..1 (max of count and bytes ratios). */
  maxFillRatio: number;
}

/** Scrape-time sampler: sets gauges just before each render/snapshot. Errors are counted, never thrown. */
export type Collector = () => void | Promise<void>;

const MAX_COLLECTORS = 64;
const LABEL_VALUE_MAX_CHARS = 128;
const MAX_CACHED_PROTOCOL_INPUTS = 256;

export class Metrics {
  readonly registry = new Registry();
  readonly destinations: DestinationLabels;
  readonly #m: Built;
  readonly #cache: RatioWindow;
  readonly #collectors = new Set<Collector>();
  readonly #protocolLabels = new Map<string, string>();

  constructor(o: MetricsOptions = {}) {
    this.destinations = new DestinationLabels({ maxDestinations: o.maxDestinations });
    this.#cache = new RatioWindow(o.cacheWindowSize ?? 1000);
    this.#m = buildCatalogue(this.registry);
    if (o.defaultMetrics ?? true) {
      const precision = o.eventLoopPrecisionMs ?? 10;
      if (!Number.isInteger(precision) || precision < 1 || precision > 1000) throw new RangeError("eventLoopPrecisionMs must be in 1..1000");
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: precision });
    }
    const clip = (s: string) => s.slice(0, LABEL_VALUE_MAX_CHARS);
    this.#m.nodeInfo.set({ node_id: clip(o.nodeId ?? "local"), version: clip(o.version ?? "0.0.0"), mode: o.mode ?? "single" }, 1);
    this.#m.cacheMissRate.set(0);
  }

  // --- exposition

  /** Content-Type of `render()` (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** GET /metrics body. Runs the collectors first. */
  async render(): Promise<string> {
    await this.#collect();
    return this.registry.metrics();
  }

  /** JSON form for /cluster/metrics aggregation (see aggregate()). Runs the collectors first. */
  async snapshot(): Promise<MetricsSnapshot> {
    await this.#collect();
    return toSnapshot(await this.registry.getMetricsAsJSON());
  }

  /** Registers a scrape-time sampler (e.g. outbox size from SQLite); returns its removal. */
  addCollector(fn: Collector): () => void {
    if (this.#collectors.size >= MAX_COLLECTORS) throw new RangeError(`at most ${MAX_COLLECTORS} collectors`);
    this.#collectors.add(fn);
    return () => void this.#collectors.delete(fn);
  }

  async #collect(): Promise<void> {
    for (const fn of this.#collectors) {
      try {
        await fn();
      } catch {
        // A broken sampler must not take /metrics down with it; the counter makes it visible.
        this.#m.collectorErrors.inc();
      }
    }
  }

  /** Unregisters everything (the default-metric samplers stop being read). */
  close(): void {
    this.#collectors.clear();
    this.registry.clear();
  }

  // --- health

  gcForced(seconds: number): void {
    if (this.#valid(seconds)) this.#m.gcForced.observe({}, seconds);
  }
  setReady(ready: boolean): void {
    this.#m.ready.set(ready ? 1 : 0);
  }
  /** One readiness check's result; pass the check's name from /health/ready (unknown names become "other"). */
  setHealthCheck(check: HealthCheck | (string & {}), ok: boolean): void {
    this.#m.healthCheckOk.set({ check: inSet(HEALTH_CHECKS, check, "other") }, ok ? 1 : 0);
  }
  setDisk(d: { freeBytes: number; sizeBytes: number }): void {
    this.#gauge(this.#m.diskFreeBytes, d.freeBytes);
    this.#gauge(this.#m.diskSizeBytes, d.sizeBytes);
  }

  // --- forwards and latency

  forwardAccepted(n = 1): void {
    this.#inc(this.#m.forwardsAccepted, n);
  }
  forwardRejected(reason: RejectReason): void {
    this.#m.forwardsRejected.inc({ reason: inSet(REJECT_REASONS, reason, "internal") });
  }
  /** Time to handle one inbound message; `protocol` is a message type URI or a protocol name. */
  observeRequest(protocol: string, seconds: number): void {
    if (this.#valid(seconds)) this.#m.requestDuration.observe({ protocol: this.#protocol(protocol) }, seconds);
  }
  observeStage(stage: Stage, seconds: number): void {
    if (this.#valid(seconds)) this.#m.stageDuration.observe({ stage: inSet(STAGES, stage, "deliver") }, seconds);
  }
  /** Starts timing a stage; call the result when it ends (returns the seconds observed). */
  startStage(stage: Stage): () => number {
    const t0 = performance.now();
    return () => {
      const s = (performance.now() - t0) / 1000;
      this.observeStage(stage, s);
      return s;
    };
  }

  // --- mailboxes, sockets, actors

  setMailboxes(s: MailboxStats): void {
    this.#gauge(this.#m.mailboxes, s.mailboxes);
    this.#gauge(this.#m.mailboxMessages, s.messages);
    this.#gauge(this.#m.mailboxBytes, s.bytes);
    this.#gauge(this.#m.mailboxDepthMax, s.maxDepthMessages);
    this.#gauge(this.#m.mailboxFillMax, Math.min(1, s.maxFillRatio));
  }
  messagesExpired(n = 1): void {
    this.#inc(this.#m.messagesExpired, n);
  }
  setWebsocketConnections(n: number): void {
    this.#gauge(this.#m.websocketConnections, n);
  }
  socketOpened(): void {
    this.#m.websocketConnections.inc();
  }
  socketClosed(): void {
    this.#m.websocketConnections.dec();
  }
  setActorsLive(n: number): void {
    this.#gauge(this.#m.actorsLive, n);
  }
  setUnpackPoolCalls(worker: number, inThread: number): void {
    this.#gauge(this.#m.unpackPoolCalls, worker, { path: "worker" });
    this.#gauge(this.#m.unpackPoolCalls, inThread, { path: "in_thread" });
  }
  actorRestarted(): void {
    this.#m.actorRestarts.inc();
  }

  // --- replication and outbox

  setOutbox(messages: number): void {
    this.#gauge(this.#m.outboxMessages, messages);
  }
  outboxRelayed(n = 1): void {
    this.#inc(this.#m.outboxRelayed, n);
  }
  setReplication(r: { pendingMessages: number; lagSeconds: number }): void {
    this.#gauge(this.#m.replicationPending, r.pendingMessages);
    this.#gauge(this.#m.replicationLag, r.lagSeconds);
  }
  observeJetStreamPublish(seconds: number): void {
    if (this.#valid(seconds)) this.#m.jetstreamPublishDuration.observe(seconds);
  }
  jetStreamPublishFailed(): void {
    this.#m.jetstreamPublishFailures.inc();
  }

  // --- cluster

  ownershipChanged(change: OwnershipChange, partitions = 1): void {
    this.#inc(this.#m.ownershipChanges, partitions, { change: inSet(OWNERSHIP_CHANGES, change, "lost") });
  }
  setPartitionsOwned(n: number): void {
    this.#gauge(this.#m.partitionsOwned, n);
  }
  setLeasesHeld(n: number): void {
    this.#gauge(this.#m.leasesHeld, n);
  }
  /** Counts per member state in this node's view; states left out are 0. */
  setGossipView(counts: Partial<Record<GossipState, number>>): void {
    for (const state of MEMBER_STATES) this.#gauge(this.#m.gossipMembers, counts[state] ?? 0, { state });
  }

  // --- control plane

  setFallbackActive(active: boolean): void {
    this.#m.fallbackActive.set(active ? 1 : 0);
  }
  fallbackTriggered(): void {
    this.#m.fallbackTriggered.inc();
  }
  /** Many lookups at once (e.g. deltas of a store's own counters sampled at scrape time). */
  cacheLookups(hits: number, misses: number): void {
    if (!this.#valid(hits) || !this.#valid(misses)) return;
    if (hits > 0) this.#m.cacheRequests.inc({ result: "hit" }, hits);
    if (misses > 0) this.#m.cacheRequests.inc({ result: "miss" }, misses);
    this.#cache.recordMany(hits, misses);
    this.#m.cacheMissRate.set(this.#cache.ratio);
  }
  cacheLookup(hit: boolean): void {
    this.#m.cacheRequests.inc({ result: hit ? "hit" : "miss" });
    this.#cache.record(!hit);
    this.#m.cacheMissRate.set(this.#cache.ratio);
  }

  // --- outbound delivery and breakers

  delivery(kind: DeliveryKind, outcome: DeliveryOutcome): void {
    this.#m.deliveries.inc({ kind: inSet(DELIVERY_KINDS, kind, "webhook"), outcome: outcome === "delivered" ? "delivered" : "dead_lettered" });
  }
  /** One outbound HTTP attempt and its duration. */
  deliveryAttempt(kind: DeliveryKind, result: AttemptResult, seconds: number): void {
    const k = inSet(DELIVERY_KINDS, kind, "webhook");
    this.#m.deliveryAttempts.inc({ kind: k, result: inSet(ATTEMPT_RESULTS, result, "network") });
    if (this.#valid(seconds)) this.#m.deliveryDuration.observe({ kind: k }, seconds);
  }
  setDeliveryPending(n: number): void {
    this.#gauge(this.#m.deliveryPending, n);
  }
  setDlqSize(n: number): void {
    this.#gauge(this.#m.dlqEvents, n);
  }
  dlqReplayed(n = 1): void {
    this.#inc(this.#m.dlqReplayed, n);
  }
  /** Current state of a destination's breaker (URL or `scheme://host:port`). */
  setBreakerState(destination: string, state: BreakerState): void {
    const d = this.destinations.label(destination);
    for (const s of BREAKER_STATES) this.#m.breakerState.set({ destination: d, state: s }, s === state ? 1 : 0);
  }
  /** A transition this node made (counted once cluster-wide: by the node whose CAS won). Also sets the state. */
  breakerReset(store: "shared" | "local"): void {
    this.#m.breakerResets.inc({ store });
  }
  breakerTransition(destination: string, to: BreakerState): void {
    const d = this.destinations.label(destination);
    this.#m.breakerTransitions.inc({ destination: d, to: inSet(BREAKER_STATES, to, "open") });
    this.setBreakerState(destination, to);
  }
  setBreakerLocalFallback(active: boolean): void {
    this.#m.breakerLocalFallback.set(active ? 1 : 0);
  }

  // --- internals

  /** protocolLabel per distinct input, remembered (it runs per request); bounded, inputs can be sender-chosen types. */
  #protocol(typeOrName: string): string {
    let label = this.#protocolLabels.get(typeOrName);
    if (label === undefined) {
      label = protocolLabel(typeOrName);
      if (this.#protocolLabels.size < MAX_CACHED_PROTOCOL_INPUTS) this.#protocolLabels.set(typeOrName, label);
    }
    return label;
  }

  #valid(v: number): boolean {
    if (Number.isFinite(v) && v >= 0) return true;
    this.#m.invalidObservations.inc();
    return false;
  }
  #gauge(g: Built["mailboxes"], v: number, labels?: Record<string, string>): void {
    if (!this.#valid(v)) return;
    if (labels) g.set(labels, v);
    else g.set(v);
  }
  #inc(c: Built["forwardsAccepted"], n: number, labels?: Record<string, string>): void {
    if (!this.#valid(n)) return;
    if (labels) c.inc(labels, n);
    else c.inc(n);
  }
}
