// Outbound delivery wiring for one node: event queue + DLQ, webhook registry, distributed breaker, dispatcher, admin API; single-node (SQLite) or cluster (JetStream/KV).
import { CleanupStack, errorName } from "./cleanup-stack.ts";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { retryStartup } from "./startup-retry.ts";
import { createAdminHandler, type AdminHandler } from "../admin/index.ts";
import type { Config } from "../config/types.ts";
import { DistributedBreaker } from "../delivery/breaker.ts";
import type { BreakerMode, BreakerTransition } from "../delivery/breaker-types.ts";
import { Dispatcher } from "../delivery/dispatcher.ts";
import type { FetchLike } from "../delivery/dispatcher-options.ts";
import type { DlqStore, EventQueue } from "../delivery/event-queue.ts";
import type { JetStreamEventQueue } from "../delivery/jetstream-queue.ts";
import type { KvBreakerStore } from "../delivery/kv-breaker-store.ts";
import { DeliveryCounters, noopDeliveryMetrics, teeMetrics, type DeliveryCountersSnapshot, type DeliveryMetrics } from "../delivery/metrics.ts";
import { webhookPreparer } from "../delivery/request.ts";
import { SqliteEventQueue } from "../delivery/sqlite-queue.ts";
import { SqliteWebhookStore } from "../delivery/sqlite-webhook-store.ts";
import { secretLookup, type WebhookStore } from "../delivery/webhook-store.ts";
import type { Logger } from "../observability/logger.ts";
import type { OutboundEvents } from "../protocols/types.ts";
import { sleep, type Clock } from "../runtime/clock.ts";
import type { PartitionFence } from "../delivery/partition-fence.ts";
import { DeliveryEvents } from "./delivery-events.ts";
import { CachedWebhookStore } from "./webhook-cache.ts";

/** What cluster mode hands to delivery: narrow on purpose (no cluster internals leak in here). */
export interface DeliveryClusterHooks {
  /** The node's NATS connection; null = delivery opens (and closes) its own from config.cluster.natsUrls. */
  readonly nc: NatsConnection | null;
  /** Partitions this node holds the lease for and serves, now; read on every dispatcher pass. */
  ownedPartitions(): ReadonlySet<number>;
  /** Live lease check, right before every HTTP call (absent: ownedPartitions() decides, which may lag). */
  owns?(partition: number): boolean;
  /** Registers delivery's partition fence, awaited inside the lease's onLost (absent: no fencing, see partitionLost). */
  setPartitionFence?(fence: PartitionFence | null): void;
}

export interface DeliveryModeOptions {
  config: Config;
  clock: Clock;
  logger: Logger;
  /** null = single-node mode (SQLite queue, DLQ and webhooks; in-memory breaker). */
  cluster: DeliveryClusterHooks | null;
  /** Prometheus sink (src/observability); the node keeps plain counters besides. */
  metrics?: DeliveryMetrics;
  /** POST /admin/drain (the SIGTERM path). */
  onDrain?: () => void;
  /** HTTP client of the dispatcher (tests). */
  fetch?: FetchLike;
  /** How long a webhook lookup answer is reused on this node. Default 2000 ms (cluster), 60_000 ms (single node: every write goes through this node). */
  webhookCacheTtlMs?: number;
  /** Longest sleep between dispatcher passes. Default 1000 ms. */
  pollIntervalMs?: number;
}

export interface DeliveryStatus {
  readonly breakerMode: BreakerMode;
  readonly pending: number;
  readonly counters: DeliveryCountersSnapshot;
  readonly outbox: { size: number; degraded: boolean } | null;
}

export interface DeliveryMode {
  /** For ProtocolServices.outbound / MediatorCoreDeps.outbound. */
  readonly outbound: OutboundEvents;
  /** For ProtocolServices.webhooks (cached for lookups; writes go through). */
  readonly webhooks: WebhookStore;
  /** /admin/* handler; null when ADMIN_TOKEN is unset (the admin API does not exist). */
  readonly admin: AdminHandler | null;
  readonly breaker: DistributedBreaker;
  readonly counters: DeliveryCounters;
  /**
   * Cluster mode: ownership of `partition` is being lost (called inside the lease's onLost through the registered
   * fence). Waits up to ~budgetMs for its in-flight calls to finish and record their outcome, aborts the rest, then
   * unloads the partition. Default budget: DEFAULT_FENCE_BUDGET_MS.
   */
  partitionLost(partition: number, budgetMs?: number): Promise<void>;
  /** Ownership changed (gained): run a dispatcher pass soon. */
  partitionsChanged(): void;
  status(): Promise<DeliveryStatus>;
  /** Queues open coalescing windows, stops the dispatcher (in-flight calls finish, bounded by the call timeout), closes stores. Idempotent. */
  stop(): Promise<void>;
}

const QUEUE_FILE = "delivery.sqlite";
/** Fence budget when the caller gives none (cluster mode passes a share of the lease safety margin). */
const DEFAULT_FENCE_BUDGET_MS = 300;
const OUTBOX_FILE = "delivery-outbox.sqlite";
const WEBHOOKS_FILE = "webhooks.sqlite";

export async function startDeliveryMode(o: DeliveryModeOptions): Promise<DeliveryMode> {
  const { config, clock } = o;
  const d = config.delivery;
  const log = o.logger.child({ module: "delivery" });
  const cleanup = new CleanupStack((err) => log.warn({ err: errorName(err) }, "delivery: error while stopping"));
  try {
    const counters = new DeliveryCounters();
    const metrics = teeMetrics(counters, o.metrics ?? noopDeliveryMetrics);
    let wake = (): void => {};

    let queue: EventQueue & DlqStore;
    let jsQueue: JetStreamEventQueue | null = null;
    let store: WebhookStore;
    let shared: KvBreakerStore | null = null;
    if (o.cluster === null) {
      const sqlite = new SqliteEventQueue({ path: join(config.storage.dataDir, QUEUE_FILE), clock });
      cleanup.push(() => sqlite.close());
      queue = sqlite;
      const hooks = new SqliteWebhookStore({ path: join(config.storage.dataDir, WEBHOOKS_FILE), clock });
      cleanup.push(() => hooks.close());
      store = hooks;
    } else {
      // Loaded only in cluster mode: a single node never pays the memory of the NATS client and its stores.
      const [{ connectNats }, { JetStreamEventQueue }, { KvWebhookStore }, { KvBreakerStore }] = await Promise.all([
        import("./nats-connection.ts"),
        import("../delivery/jetstream-queue.ts"),
        import("../delivery/kv-webhook-store.ts"),
        import("../delivery/kv-breaker-store.ts"),
      ]);
      let nc = o.cluster.nc;
      if (nc === null) {
        const own = await connectNats(config, "delivery");
        cleanup.push(() => own.close());
        nc = own;
      }
      const c = config.cluster;
      const outbox = new SqliteEventQueue({ path: join(config.storage.dataDir, OUTBOX_FILE), clock });
      cleanup.push(() => outbox.close());
      jsQueue = new JetStreamEventQueue(nc, outbox, { replicas: c.replicas, partitionCount: c.partitions, clock, onEvent: () => wake(), log });
      await jsQueue.start();
      const js = jsQueue;
      cleanup.push(() => js.close());
      queue = jsQueue;
      const conn = nc;
      store = await retryStartup("open the webhook bucket", () => KvWebhookStore.open(conn, { replicas: c.replicas, clock }), { clock, log });
      // Creating an R3 bucket can take longer than one breaker call's deadline (and nodes race to create it).
      shared = await retryStartup("open the breaker bucket", () => KvBreakerStore.open(conn, { replicas: c.replicas, clock }), { clock, log });
    }

    const breaker = new DistributedBreaker({
      nodeId: config.cluster.nodeId,
      shared,
      clock,
      failureThreshold: d.breakerFailureThreshold,
      openMs: d.breakerOpenMs,
      onTransition: (t: BreakerTransition) => {
        metrics.breakerTransition(t);
        log.info({ destination: t.destination, from: t.from, to: t.to, reason: t.reason, failures: t.failures, store: t.store }, "delivery: breaker transition");
      },
      onStoreError: (destination, err) => {
        log.info({ destination, err: err.message }, "delivery: breaker store call failed; retrying");
      },
      onModeChange: (mode) => {
        metrics.breakerMode(mode);
        log.warn({ mode }, mode === "local" ? "delivery: breaker store unreachable; using the in-memory breaker" : "delivery: breaker store back; state shared again");
      },
    });
    metrics.breakerMode(breaker.mode);
    cleanup.push(() => breaker.close());

    const ttlMs = o.webhookCacheTtlMs ?? (o.cluster === null ? 60_000 : 2000);
    const webhooks = new CachedWebhookStore(store, { ttlMs, clock });
    const cluster = o.cluster;
    const dispatcher = new Dispatcher({
      queue,
      dlq: queue,
      breaker,
      clock,
      retry: { baseMs: d.retryBaseMs, capMs: d.retryCapMs, maxAttempts: d.maxAttempts },
      callTimeoutMs: d.callTimeoutMs,
      concurrencyPerDestination: d.concurrencyPerDestination,
      ...(o.pollIntervalMs !== undefined ? { pollIntervalMs: o.pollIntervalMs } : {}),
      ownedPartitions: cluster === null ? () => undefined : () => cluster.ownedPartitions(),
      ...(cluster?.owns !== undefined ? { owns: (p: number) => cluster.owns!(p) } : {}),
      // Through the cache: the store first, the last secret read only while the store is unreachable.
      prepare: webhookPreparer(secretLookup(webhooks)),
      metrics,
      log,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    wake = () => dispatcher.wake();
    dispatcher.start();
    cleanup.push(() => dispatcher.stop());
    metrics.dlqSize(await queue.count().catch(() => 0));

    const events = new DeliveryEvents({
      queue,
      webhooks,
      partitions: config.cluster.partitions,
      clock,
      coalesceMs: d.webhookCoalesceMs,
      // Single node: this dispatcher serves every event. Cluster: the owner hears of it through its consumer.
      onQueued: cluster === null ? () => dispatcher.wake() : () => {},
      log,
    });
    cleanup.push(() => events.flush());

    const status = async (): Promise<DeliveryStatus> => ({
      breakerMode: breaker.mode,
      pending: await queue.size(),
      counters: counters.snapshot(),
      outbox: jsQueue === null ? null : { size: jsQueue.status.outboxSize, degraded: jsQueue.status.degraded },
    });
    const admin =
      config.admin.token === null
        ? null
        : createAdminHandler({
            token: config.admin.token,
            webhooks,
            dlq: queue,
            queue,
            breaker,
            onBreakerReset: (r) => {
              metrics.breakerReset?.(r);
              log.warn({ destination: r.destination, store: r.store, from: r.from, failures: r.failures }, "delivery: breaker reset by an operator");
            },
            clock,
            log,
            onDrain: o.onDrain ?? null,
            stats: () => ({ node_id: config.cluster.nodeId, breaker_mode: breaker.mode, ...counters.snapshot() }),
          });

    const partitionLost = async (p: number, budgetMs = DEFAULT_FENCE_BUDGET_MS): Promise<void> => {
      const r = await dispatcher.fence(p, budgetMs);
      await jsQueue?.closePartition(p);
      if (r.aborted > 0 || r.unsettled > 0) log.warn({ partition: p, ...r, budgetMs }, "delivery: partition fenced with calls still in flight; the next owner resends those (same Idempotency-Key)");
      else if (r.finished > 0) log.info({ partition: p, finished: r.finished }, "delivery: partition fenced after its in-flight calls finished");
    };
    if (cluster?.setPartitionFence !== undefined) {
      cluster.setPartitionFence(partitionLost);
      cleanup.push(() => cluster.setPartitionFence?.(null));
    }

    let stopping: Promise<void> | undefined;
    log.info({ mode: cluster === null ? "single" : "cluster", fenced: cluster?.setPartitionFence !== undefined, breaker: breaker.mode, breakerCas: shared?.casMode ?? null, coalesceMs: d.webhookCoalesceMs }, "delivery pipeline started");
    return {
      outbound: events,
      webhooks,
      admin,
      breaker,
      counters,
      partitionLost,
      partitionsChanged: () => dispatcher.wake(),
      status,
      stop: () => {
        stopping ??= cleanup.run();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/** Bucket creation at start: a few tries with backoff (other nodes create the same buckets at the same time). */

