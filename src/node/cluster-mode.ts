// Cluster mode wiring: NATS, replicated journal, control plane, gossip + leases, partition hosts, owner routing.
import { CleanupStack, errorName } from "./cleanup-stack.ts";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "./nats-connection.ts";
import { retryStartup } from "./startup-retry.ts";
import { ClusterMailbox } from "../cluster/cluster-mailbox.ts";
import { OwnerEndpoint } from "../cluster/owner-endpoint.ts";
import { partitionOf } from "../cluster/partition.ts";
import { PartitionHost } from "../cluster/partition-host.ts";
import { UsageBoard } from "../cluster/usage.ts";
import type { Config } from "../config/types.ts";
import { KvMediationStore, KvReplayGuard } from "../controlplane/index.ts";
import { LeaseManager, Membership, NatsGossipTransport, Ownership, openNatsLeaseStore, type NodeLoad } from "../membership/index.ts";
import type { Logger } from "../observability/logger.ts";
import { ReplicatedJournal, Tombstones } from "../replication/index.ts";
import { sleep, type Clock, type TimerHandle } from "../runtime/clock.ts";
import { cryptoRandom } from "../runtime/random.ts";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";
import type { MessageStore, StorageDriver } from "../storage/types.ts";
import type { HealthCheck } from "../transport/health.ts";
import type { DeliveryOwnershipLink, PartitionFence } from "../delivery/partition-fence.ts";
import type { DeliveryClusterHooks } from "./delivery-mode.ts";
import { clusterStatus, type ClusterStatus } from "./cluster-status.ts";

export interface ClusterModeOptions {
  config: Config;
  clock: Clock;
  logger: Logger;
  /** This node's public URL (announced in heartbeats). */
  url: string;
  /** Sampled for each heartbeat. */
  load: () => NodeLoad;
  /** Bound on flushing the journal outbox at stop. Default 10_000 ms. */
  flushTimeoutMs?: number;
  /** Pause between expiry sweeps of the partitions this node serves. Default 30_000 ms. */
  expirySweepIntervalMs?: number;
}

export interface ClusterMode {
  readonly mailbox: ClusterMailbox;
  /** For createMediatorCore: mediations and replay from the control plane; `messages` is not used in cluster mode. */
  readonly storage: StorageDriver;
  readonly checks: HealthCheck[];
  status(): ClusterStatus;
  /**
   * For startDeliveryMode: this node's NATS connection, live lease ownership, and the partition fence run inside
   * every lease's onLost (so the next owner never starts an event this node may still be sending).
   */
  readonly deliveryHooks: DeliveryClusterHooks;
  /** The replicated journal (for its metrics: publish latency, outbox size and age). */
  readonly journal: ReplicatedJournal;
  /** Graceful leave, step 1: announce draining, hand every partition over (leases released). Idempotent. */
  drain(): Promise<void>;
  /** Step 2 (after HTTP is closed): stop gossip, flush the journal outbox, close NATS. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Leases stop serving this long before they can expire server side (LeaseManager's safetyMarginMs, passed
 * explicitly because the delivery fence's budget is derived from it). Capped at leaseTtlMs / 2.
 */
const LEASE_SAFETY_MARGIN_MS = 500;
/** Tombstones of confirmed records per partition (the replica's defaults; see src/replication/tombstones.ts). */
const TOMBSTONE_TTL_MS = 300_000;
const MAX_TRACKED_PER_PARTITION = 1_000_000;
const MAX_TOMBSTONES_PER_PARTITION = 1_000_000;
/** Share of the safety margin the delivery fence may use inside onLost (the rest covers the host close and clock drift). */
const DELIVERY_FENCE_SHARE = 0.5;
/** How often failed partition replicas are looked for (and rebuilt while the lease is still held). */
const REPAIR_INTERVAL_MS = 1000;
const EXPIRY_SWEEP_INTERVAL_MS = 30_000;
/** Messages expired per partition per sweep (each one is a stream delete). */
const EXPIRY_BATCH = 1000;
function unusedMessages(): MessageStore {
  const fail = () => Promise.reject(new StorageError(StorageErrorCode.Unavailable, "cluster mode keeps messages in partition owners"));
  return { enqueue: fail, list: fail, stats: fail, remove: fail, expire: fail };
}

export async function startClusterMode(o: ClusterModeOptions): Promise<ClusterMode> {
  const { config, clock } = o;
  const c = config.cluster;
  const log = o.logger.child({ module: "cluster" });
  const cleanup = new CleanupStack((err) => log.warn({ err: errorName(err) }, "cluster: error while stopping"));
  try {
    const nc: NatsConnection = await connectNats(config);
    cleanup.push(() => nc.close());
    let natsConnected = true;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") natsConnected = false;
        else if (s.type === "reconnect") natsConnected = true;
      }
    })().catch(() => {});

    const partitionsDir = join(config.storage.dataDir, "partitions");
    await mkdir(partitionsDir, { recursive: true, mode: 0o700 });
    const journal = await ReplicatedJournal.open({
      nc,
      journalPath: join(config.storage.dataDir, "journal.sqlite"),
      replicas: c.replicas,
      clock,
      log: log.child({ module: "replication" }),
    });
    cleanup.push(() => journal.close());
    const cpLog = log.child({ module: "controlplane" });
    const retry = { clock, log };
    const mediations = await retryStartup("open the mediation bucket", () => KvMediationStore.open(nc, { replicas: c.replicas, clock, log: cpLog }), retry);
    cleanup.push(() => mediations.close());
    const replayWindowMs = Math.max(1000, Math.min(config.limits.replayWindowSeconds * 1000, 30 * 24 * 3600_000));
    const replay = await retryStartup("open the replay bucket", () => KvReplayGuard.open(nc, { replicas: c.replicas, windowMs: replayWindowMs, clock, log: cpLog }), retry);
    cleanup.push(() => replay.close());

    const usage = new UsageBoard({ nc, clock });
    usage.start();
    cleanup.push(() => usage.stop());

    const hosts = new Map<number, PartitionHost>();
    const leaseStore = await retryStartup("open the lease bucket", () => openNatsLeaseStore(nc, { leaseTtlMs: c.leaseTtlMs, replicas: c.replicas, clock }), retry);
    const membership = new Membership({
      nodeId: c.nodeId,
      url: o.url,
      transport: new NatsGossipTransport(nc),
      clock,
      random: cryptoRandom,
      load: o.load,
      heartbeatIntervalMs: c.heartbeatIntervalMs,
      suspectAfterMs: c.suspectAfterMs,
      deadAfterMs: c.deadAfterMs,
      probeTimeoutMs: Math.min(500, c.deadAfterMs - c.suspectAfterMs),
    });
    // One tombstone set per partition for the node's lifetime, shared by every rebuild of that partition here, so a
    // record confirmed before a rebuild and re-published by a journal afterwards is still recognised as confirmed.
    const tombstones = new Map<number, Tombstones>();
    const tombstonesOf = (p: number): Tombstones => {
      let t = tombstones.get(p);
      if (t === undefined) tombstones.set(p, (t = new Tombstones(TOMBSTONE_TTL_MS, MAX_TRACKED_PER_PARTITION, MAX_TOMBSTONES_PER_PARTITION)));
      return t;
    };
    const openHost = (p: number, epoch: number): Promise<PartitionHost> =>
      PartitionHost.open({
        partition: p,
        epoch,
        dir: partitionsDir,
        nc,
        clock,
        logger: log,
        replica: { tombstones: tombstonesOf(p) },
        // The node's actor bound shared across its partitions (memory follows the working set, as single node).
        mailbox: { actors: { idlePassivateMs: config.limits.mailboxActorIdleMs, maxActors: Math.max(16, Math.ceil(config.limits.mailboxMaxActors / c.partitions)) } },
        isHeld: () => leases.holds(p) === epoch,
        onUsageChanged: (mailbox) => usage.markDirty(p, mailbox, (m) => hosts.get(p)?.stats(m) ?? Promise.reject(new Error("gone"))),
      });
    const ownershipEvents = { gained: 0, lost: 0, fenceOverruns: 0 };
    const safetyMarginMs = Math.min(LEASE_SAFETY_MARGIN_MS, Math.floor(c.leaseTtlMs / 2));
    const deliveryFenceBudgetMs = Math.floor(safetyMarginMs * DELIVERY_FENCE_SHARE);
    let deliveryFence: PartitionFence | null = null;
    const leases: LeaseManager = new LeaseManager({
      nodeId: c.nodeId,
      store: leaseStore,
      clock,
      partitions: c.partitions,
      leaseTtlMs: c.leaseTtlMs,
      safetyMarginMs,
      onGained: async (p, epoch) => {
        const stale = hosts.get(p);
        if (stale) {
          hosts.delete(p);
          await stale.close();
        }
        hosts.set(p, await openHost(p, epoch));
      },
      onLost: async (p, epoch) => {
        // Delivery first and in parallel: its in-flight calls must finish (2xx recorded) or be aborted while the
        // lease still keeps the next owner out. A fence without a host (rebuild pending) still applies.
        const fence = deliveryFence;
        const fencing = fence === null ? Promise.resolve() : fence(p, deliveryFenceBudgetMs).catch((err: unknown) => log.warn({ partition: p, err: errorName(err) }, "cluster: delivery fence failed"));
        const host = hosts.get(p);
        if (host !== undefined && host.epoch === epoch) {
          hosts.delete(p);
          await host.close(); // stops serving synchronously; the rest is bounded
        }
        tombstones.delete(p); // the partition left this node: its next owner keeps its own
        await fencing;
      },
      onEvent: (e) => {
        if (e.type === "gained") ownershipEvents.gained++;
        else if (e.type === "lost") ownershipEvents.lost++;
        else ownershipEvents.fenceOverruns++;
        if (e.type === "fence-overrun") log.error(e, "cluster: onLost overran the lease safety margin");
        else log.info(e, `cluster: partition ${e.type}`);
      },
      onError: (err, context) => log.warn({ err: err instanceof Error ? `${err.name}: ${err.message}` : "unknown", context }, "cluster: lease error"),
    });
    const mailbox: ClusterMailbox = new ClusterMailbox({
      nodeId: c.nodeId,
      nc,
      clock,
      logger: log,
      partitions: c.partitions,
      journal,
      hostOf: (p) => hosts.get(p),
      ownerOf: (p) => ownership.ring().ownerOf(p),
      usage,
      defaultQuota: { maxCount: config.limits.mailboxMaxMessages, maxBytes: config.limits.mailboxMaxBytes },
      requestTimeoutMs: c.requestTimeoutMs,
      routeTimeoutMs: Math.max(5000, c.deadAfterMs + c.leaseTtlMs + 1000),
    });
    const ownership: Ownership = new Ownership({
      membership,
      leases,
      partitions: c.partitions,
      onRing: () => mailbox.live.onTopologyChange(),
    });
    const endpoint = new OwnerEndpoint({
      nodeId: c.nodeId,
      nc,
      logger: log,
      hostFor: (m) => hosts.get(partitionOf(m, c.partitions)),
      pushTimeoutMs: c.requestTimeoutMs,
    });
    endpoint.start();
    mailbox.live.start();
    cleanup.push(() => endpoint.stop());
    cleanup.push(() => mailbox.live.stop());
    membership.start();
    cleanup.push(() => membership.stop(true));
    ownership.start();
    cleanup.push(() => ownership.stop());
    cleanup.push(() => leases.stop());

    // A replica that failed (consumer lost, stream recreated) is rebuilt while its lease is still held. A rebuild
    // that fails (NATS unreachable, no stream leader yet) stays pending and is retried on every pass: the partition
    // is no longer in `hosts` then, so without this record nothing would ever serve it again while we hold it.
    const rebuildPending = new Map<number, number>(); // partition -> epoch
    let repairTimer: TimerHandle | null = null;
    const repair = async (): Promise<void> => {
      for (const [p, host] of [...hosts]) {
        if (!host.failed || leases.holds(p) !== host.epoch || hosts.get(p) !== host) continue;
        log.warn({ partition: p }, "cluster: rebuilding a failed partition replica");
        hosts.delete(p);
        rebuildPending.set(p, host.epoch);
        await host.close();
      }
      for (const [p, epoch] of [...rebuildPending]) {
        // Lost meanwhile, or gained again at a newer epoch (onGained opened its own host): nothing to rebuild.
        if (leases.holds(p) !== epoch || hosts.has(p)) {
          rebuildPending.delete(p);
          continue;
        }
        let host: PartitionHost;
        try {
          host = await openHost(p, epoch);
        } catch (err) {
          log.warn({ partition: p, err: err instanceof Error ? err.name : "unknown" }, "cluster: rebuild failed; retrying");
          continue;
        }
        rebuildPending.delete(p);
        // Checked after the (long) open: the lease may have moved on while the cache was rebuilt.
        if (leases.holds(p) === epoch && !hosts.has(p)) hosts.set(p, host);
        else await host.close();
      }
    };
    const scheduleRepair = (): void => {
      repairTimer = clock.setTimeout(() => void repair().finally(scheduleRepair), REPAIR_INTERVAL_MS, { unref: true });
    };
    scheduleRepair();
    cleanup.push(() => {
      if (repairTimer) clock.clearTimeout(repairTimer);
      repairTimer = null;
    });

    // Expiry: the owner sweeps each partition it serves; expired messages leave the cache and the stream.
    let expiryTimer: TimerHandle | null = null;
    const expiryIntervalMs = o.expirySweepIntervalMs ?? EXPIRY_SWEEP_INTERVAL_MS;
    const sweepExpired = async (): Promise<void> => {
      for (const host of [...hosts.values()]) {
        try {
          const n = await host.sweepExpired(clock.nowMs(), EXPIRY_BATCH);
          if (n > 0) log.debug({ partition: host.partition, expired: n }, "cluster: expired messages deleted");
        } catch (err) {
          log.warn({ partition: host.partition, err: err instanceof Error ? err.name : "unknown" }, "cluster: expiry sweep failed; will retry");
        }
      }
    };
    let expiryStopped = false;
    const scheduleExpiry = (): void => {
      if (expiryStopped) return;
      expiryTimer = clock.setTimeout(() => void sweepExpired().finally(scheduleExpiry), expiryIntervalMs, { unref: true });
    };
    scheduleExpiry();
    cleanup.push(() => {
      expiryStopped = true;
      if (expiryTimer) clock.clearTimeout(expiryTimer);
      expiryTimer = null;
    });

    const startedAtMs = clock.monotonicMs();
    const settleMs = c.suspectAfterMs; // by then every live member's heartbeat was heard at least twice
    const checks: HealthCheck[] = [
      // The server is named: a node can be connected to a server that lost its routes (OPERATIONS.md, Network partition).
      { name: "nats", run: async () => ({ ok: natsConnected && !nc.isClosed(), detail: natsConnected ? `connected to ${nc.getServer()}` : "disconnected" }) },
      {
        name: "membership",
        run: async () => {
          const view = membership.view();
          const joined = view.live.includes(c.nodeId);
          const settled = clock.monotonicMs() - startedAtMs >= settleMs;
          return { ok: joined && settled, detail: `state=${membership.state} live=${view.live.length}${settled ? "" : " settling"}` };
        },
      },
      {
        name: "replication",
        run: async () => {
          const s = journal.status();
          // Degraded is reported, not failed: the node keeps accepting forwards into its durable outbox.
          return { ok: true, detail: `${s.degraded ? "degraded" : "normal"} outbox=${s.outboxSize}` };
        },
      },
      {
        name: "control_plane",
        run: async () => {
          const s = mediations.stats();
          return { ok: true, detail: `mode=${s.mode} fallbacks=${s.edgeFallbackTriggered} cacheMissRate=${s.cacheMissRate.toFixed(3)}` };
        },
      },
    ];

    const storage: StorageDriver = {
      name: "cluster",
      messages: unusedMessages(),
      mediations,
      replay,
      health: async () => ({ ok: natsConnected, detail: natsConnected ? "nats connected" : "nats disconnected" }),
      close: async () => {},
    };

    const link: DeliveryOwnershipLink = {
      ownedPartitions: () => new Set(leases.owned().map((o) => o.partition)),
      owns: (p) => leases.holds(p) !== null,
      setFence: (f) => {
        deliveryFence = f;
      },
    };
    const deliveryHooks: DeliveryClusterHooks = {
      nc,
      ownedPartitions: link.ownedPartitions,
      owns: link.owns,
      setPartitionFence: link.setFence,
    };

    let draining: Promise<void> | undefined;
    let stopping: Promise<void> | undefined;
    const drain = (): Promise<void> => {
      draining ??= (async () => {
        log.info({ owned: leases.owned().length }, "cluster: draining");
        await ownership.drain();
        log.info({}, "cluster: partitions handed over");
      })();
      return draining;
    };
    return {
      mailbox,
      storage,
      checks,
      status: () =>
        clusterStatus({ nodeId: c.nodeId, url: o.url, partitions: c.partitions, membership, leases, hosts, journal, mediations, replay, mailbox, endpoint, load: o.load(), natsConnected, ownershipEvents }),
      deliveryHooks,
      journal,
      drain,
      stop: () => {
        stopping ??= (async () => {
          await drain().catch(() => {});
          // Let the relay publish what the outbox holds; entries left stay durable for the next start.
          const deadline = clock.monotonicMs() + (o.flushTimeoutMs ?? 10_000);
          while (journal.status().outboxSize > 0 && natsConnected && clock.monotonicMs() < deadline) await sleep(clock, 20);
          await cleanup.run();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}
