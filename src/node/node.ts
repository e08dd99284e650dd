// Composition root of one Haven node: identity, DID, storage, mailbox actors, mediator core, HTTP/WS server.
import { CleanupStack, errorName } from "./cleanup-stack.ts";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import { deriveWsUrl } from "../config/formats.ts";
import { createResolver } from "../didcomm/did/index.ts";
import { loadOrCreateIdentityFile, mintMediatorDid } from "../didcomm/identity/index.ts";
import { MemorySecrets } from "../didcomm/secrets/index.ts";
import { createUnpackPool } from "../didcomm/pool/index.ts";
import { MailboxActor, type MailboxPort } from "../mailbox/index.ts";
import { createMediatorCore, type MediatorCore, type PostMessage } from "../mediator/index.ts";
import { createLogger, type Logger } from "../observability/index.ts";
import { sleep, systemClock, type Clock } from "../runtime/index.ts";
import { openSqliteDriver, type StorageDriver } from "../storage/index.ts";
import { createHealth, diskCheck, eventLoopCheck, storageCheck, type HealthCheck } from "../transport/health.ts";
import { createHttpApp, type HttpApp, type HttpAppOptions } from "../transport/http-app.ts";
import { makeInvitationInfo } from "../transport/invitation.ts";
import { LagMonitor } from "../transport/lag-monitor.ts";
import type { ClusterMode } from "./cluster-mode.ts";
import { prometheusDeliveryMetrics } from "./delivery-metrics.ts";
import { startDeliveryMode, type DeliveryMode } from "./delivery-mode.ts";
import { ExpirySweep } from "./expiry-sweep.ts";
import { MemoryGovernor } from "./memory-governor.ts";
import { createNodeMetrics, timedMailbox } from "./metrics-wiring.ts";
import { tracedReceiver } from "../transport/traced-receiver.ts";
import { startTracing } from "../observability/tracing.ts";

export interface HavenNode {
  /** Public HTTP URL (PUBLIC_URL, with the real port when PORT=0 and PUBLIC_URL was not set). */
  readonly url: string;
  readonly wsUrl: string;
  readonly did: string;
  readonly invitationUrl: string;
  /** The port actually bound. */
  readonly port: number;
  /** Graceful: stop accepting, drain in-flight work, close sockets, stop actors, close storage. Idempotent. */
  stop(): Promise<void>;
}

export interface NodeOptions {
  clock?: Clock;
  logger?: Logger;
  /** Outbound POST for replies without return_route (tests inject a fake). */
  post?: PostMessage;
  /** Readiness fails below this much free disk in DATA_DIR. Default 64 MiB. */
  minFreeDiskBytes?: number;
  /** Readiness fails when event-loop lag exceeds this. Default 1000 ms. */
  maxEventLoopLagMs?: number;
  /** Bound on waiting for in-flight requests at stop. Default 10_000 ms. */
  drainTimeoutMs?: number;
  /**
   * At stop, readiness fails first and the listener stays open at least this long (counted from that moment; a
   * cluster drain counts towards it) so load balancers notice and stop choosing this node before new connections are
   * refused. Default: 1000 ms in cluster mode (nodes run behind a balancer), 0 single-node. Bounds 0..60_000.
   */
  shutdownGraceMs?: number;
  expirySweepIntervalMs?: number;
  /** POST /admin/drain. Default: SIGTERM to this process (main.ts stops gracefully and exits). */
  onDrainRequest?: () => void;
  expiryBatchSize?: number;
  http?: HttpAppOptions;
}

const DB_FILE = "haven.sqlite";

/** With PORT=0 the default PUBLIC_URL (`http://localhost:0`) names port 0: put the bound port in. */
function withBoundPort(config: Config, port: number): Config["server"] {
  const s = config.server;
  if (s.port !== 0 || new URL(s.publicUrl).port !== "0") return { ...s, port };
  const publicUrl = s.publicUrl.replace(/:0(?=\/|$)/, `:${port}`);
  return { ...s, port, publicUrl, wsUrl: deriveWsUrl(publicUrl) };
}

export async function createNode(config: Config, opts: NodeOptions = {}): Promise<HavenNode> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger({ level: config.log.level, pretty: config.log.pretty, moduleLevels: config.log.moduleLevels, clock });
  const log = logger.child({ module: "node" });
  const cleanup = new CleanupStack((err) => log.error({ err: errorName(err) }, "error while stopping"));

  try {
    await mkdir(config.storage.dataDir, { recursive: true, mode: 0o700 });
    // First in, last out: spans of the final requests are still exported at stop.
    const t = config.tracing;
    const tracing = startTracing(t.enabled && t.tracesUrl !== null ? { tracesUrl: t.tracesUrl, serviceName: t.serviceName, instanceId: config.cluster.enabled ? config.cluster.nodeId : "local" } : null);
    cleanup.push(() => tracing.stop());
    const nodeMetrics = createNodeMetrics({ config, logger, clock });
    cleanup.push(() => nodeMetrics.stop());
    const identity = await loadOrCreateIdentityFile(config.storage.mediatorKeysFile);
    // Cluster mode (NATS_URL set) replaces the local database and mailbox actors; see cluster-mode.ts.
    let cluster: ClusterMode | undefined;
    let driver: StorageDriver | undefined;
    let mailbox: MailboxPort | undefined;
    const quota = { maxCount: config.limits.mailboxMaxMessages, maxBytes: config.limits.mailboxMaxBytes };
    if (!config.cluster.enabled) {
      const sqlite = openSqliteDriver({ path: join(config.storage.dataDir, DB_FILE), clock });
      driver = sqlite;
      cleanup.push(() => sqlite.close());
      const actor = new MailboxActor({
        driver: sqlite,
        clock,
        defaultQuota: quota,
        actors: {
          logger: logger.child({ module: "mailbox" }),
          onRestart: () => nodeMetrics.metrics.actorRestarted(),
          // Memory follows the working set: an actor is cheap to rebuild, 10k idle ones are megabytes of heap.
          idlePassivateMs: config.limits.mailboxActorIdleMs,
          maxActors: config.limits.mailboxMaxActors,
        },
      });
      nodeMetrics.attachActors(actor);
      const dbPath = join(config.storage.dataDir, DB_FILE);
      nodeMetrics.attachMailboxFiles(() => [dbPath], quota);
      mailbox = timedMailbox(actor, nodeMetrics.metrics, "store");
      cleanup.push(() => actor.stop({ drain: true }));
    } else {
      cleanup.push(() => cluster?.stop()); // runs after the HTTP drain (cleanup runs in reverse)
    }

    const lag = new LagMonitor({ clock });
    lag.start();
    cleanup.push(() => lag.stop());
    const memory = new MemoryGovernor({
      clock,
      softLimitBytes: config.limits.memorySoftLimitBytes,
      onCollected: (seconds) => nodeMetrics.metrics.gcForced(seconds),
    });
    memory.start();
    cleanup.push(() => memory.stop());
    const checks: HealthCheck[] = [
      diskCheck(config.storage.dataDir, opts.minFreeDiskBytes ?? 64 * 1024 * 1024),
      eventLoopCheck(lag, opts.maxEventLoopLagMs ?? 1000),
    ];
    if (driver) checks.unshift(storageCheck(driver));
    const health = nodeMetrics.observeHealth(createHealth(checks, { clock }));

    // Listen before minting the DID: with PORT=0 the DID's endpoints need the port we are given.
    const app: HttpApp = createHttpApp({
      health,
      config,
      logger,
      clock,
      clusterStatus: () => cluster?.status(),
      admin: () => delivery?.admin,
      routes: nodeMetrics.routes,
      ...(opts.http ? { options: opts.http } : {}),
    });
    const { port } = app.listen({ hostname: config.server.host, port: config.server.port });
    nodeMetrics.attachApp(app);
    const shutdownGraceMs = opts.shutdownGraceMs ?? config.server.shutdownGraceMs ?? (config.cluster.enabled ? 1000 : 0);
    if (!Number.isInteger(shutdownGraceMs) || shutdownGraceMs < 0 || shutdownGraceMs > 60_000) throw new RangeError("shutdownGraceMs must be an integer in 0..60000");
    /** When readiness started failing (stop() began); undefined when cleanup runs after a failed start. */
    let drainStartedAtMs: number | undefined;
    let core: MediatorCore | undefined;
    let delivery: DeliveryMode | undefined;
    // Stops after the HTTP drain below (cleanup runs in reverse) and before cluster mode closes NATS.
    cleanup.push(() => delivery?.stop());
    cleanup.push(async () => {
      // Balancers saw readiness fail at drainStartedAtMs; refuse new connections only once they had the grace to notice.
      const graceLeftMs = drainStartedAtMs === undefined ? 0 : drainStartedAtMs + shutdownGraceMs - clock.monotonicMs();
      if (graceLeftMs > 0) await sleep(clock, graceLeftMs);
      const { drained } = await app.close({ drainTimeoutMs: opts.drainTimeoutMs ?? 10_000 });
      if (!drained) log.warn({}, "in-flight requests did not finish before the drain timeout");
      // After the drain, so replies queued by the last requests still go out.
      await core?.flushOutbound();
    });

    const server = withBoundPort(config, port);
    const nodeConfig: Config = { ...config, server };
    if (config.cluster.enabled) {
      // Loaded only in cluster mode: a single node never pays the memory of NATS, the ring and the replication code.
      const { startClusterMode } = await import("./cluster-mode.ts");
      cluster = await startClusterMode({
        config: nodeConfig,
        clock,
        logger,
        url: server.publicUrl,
        load: () => ({
          eventLoopLagMs: Math.round(lag.lagMs),
          rssBytes: process.memoryUsage.rss(),
          queueDepth: app.inFlight,
          openSockets: app.wsConnections,
        }),
      });
      checks.push(...cluster.checks);
      await nodeMetrics.attachCluster(cluster);
      nodeMetrics.attachJournal(cluster.journal);
      const partitionsDir = join(config.storage.dataDir, "partitions");
      const c = cluster;
      nodeMetrics.attachMailboxFiles(() => c.status().owned.filter((p) => p.serving).map((p) => join(partitionsDir, `p-${p.partition}.sqlite`)), quota);
      driver = cluster.storage;
      mailbox = timedMailbox(cluster.mailbox, nodeMetrics.metrics, "journal");
      cleanup.push(() => c.drain()); // first at stop: hand partitions over while HTTP still serves
    }
    if (driver === undefined || mailbox === undefined) throw new Error("invariant: storage and mailbox are set up");
    const clusterNow = cluster;
    delivery = await startDeliveryMode({
      config: nodeConfig,
      clock,
      logger,
      cluster: clusterNow === undefined ? null : clusterNow.deliveryHooks,
      metrics: prometheusDeliveryMetrics(nodeMetrics.metrics, clusterNow !== undefined),
      onDrain: opts.onDrainRequest ?? (() => process.kill(process.pid, "SIGTERM")),
    });
    const minted = mintMediatorDid(identity, { httpUri: server.publicUrl, wsUri: server.wsUrl });
    const resolver = createResolver();
    const secrets = new MemorySecrets(minted.keys);
    // Optional: decrypt forwards on worker threads (the same resolver, secrets and limit as the core's).
    const unpackPool =
      nodeConfig.limits.unpackWorkers > 0
        ? createUnpackPool({
            ctx: { resolver, secrets, maxEnvelopeBytes: nodeConfig.limits.maxMessageBytes, now: () => clock.nowMs() },
            keys: minted.keys,
            workers: nodeConfig.limits.unpackWorkers,
            onEvent: (e) => (e.kind === "worker_exit" ? log.warn(e, "unpack worker exited; its calls ran in-thread") : log.debug(e, "unpack worker started")),
          })
        : undefined;
    if (unpackPool !== undefined) {
      cleanup.push(() => unpackPool.close());
      nodeMetrics.metrics.addCollector(() => {
        const st = unpackPool.stats();
        nodeMetrics.metrics.setUnpackPoolCalls(st.viaWorker, Object.values(st.inThread).reduce((a, b) => a + b, 0));
      });
    }
    core = createMediatorCore({
      mediatorDid: minted.did,
      resolver,
      secrets,
      ...(unpackPool !== undefined ? { unpackPool } : {}),
      storage: driver,
      mailbox,
      config: nodeConfig,
      clock,
      logger,
      metrics: nodeMetrics.metrics,
      outbound: delivery.outbound,
      webhooks: delivery.webhooks,
      ...(opts.post ? { post: opts.post } : {}),
    });
    const invitation = makeInvitationInfo({ did: minted.did, publicUrl: server.publicUrl });
    app.attach({ core: tracedReceiver(core), invitation });

    if (!config.cluster.enabled) {
      const sweep = new ExpirySweep({
        messages: driver.messages,
        clock,
        logger: log,
        ...(opts.expirySweepIntervalMs !== undefined ? { intervalMs: opts.expirySweepIntervalMs } : {}),
        ...(opts.expiryBatchSize !== undefined ? { batchSize: opts.expiryBatchSize } : {}),
      });
      sweep.start();
      cleanup.push(() => sweep.stop());
    }

    log.info({ url: server.publicUrl, port, did: minted.did, cluster: config.cluster.enabled ? config.cluster.nodeId : null }, "haven node started");
    let stopping: Promise<void> | undefined;
    return {
      url: server.publicUrl,
      wsUrl: server.wsUrl,
      did: minted.did,
      invitationUrl: invitation.url,
      port,
      stop: () => {
        stopping ??= (async () => {
          log.info({ shutdownGraceMs }, "haven node stopping");
          drainStartedAtMs = clock.monotonicMs();
          nodeMetrics.draining();
          app.beginDrain(); // readiness 503 and `connection: close` from now on; requests are still served
          await cleanup.run();
          log.info({}, "haven node stopped");
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}
