// The JSON of GET /cluster/status: membership view, owned partitions, load, outbox and control-plane state.
import type { ClusterMailbox } from "../cluster/cluster-mailbox.ts";
import type { OwnerEndpoint } from "../cluster/owner-endpoint.ts";
import type { PartitionHost } from "../cluster/partition-host.ts";
import type { KvMediationStore, KvReplayGuard } from "../controlplane/index.ts";
import type { LeaseManager, Membership, NodeLoad } from "../membership/index.ts";
import type { ReplicatedJournal } from "../replication/index.ts";

export interface ClusterStatus {
  nodeId: string;
  url: string;
  state: string;
  incarnation: number;
  natsConnected: boolean;
  partitions: number;
  live: readonly string[];
  members: { nodeId: string; state: string; incarnation: number; url: string; load: NodeLoad }[];
  /**
   * `appliedSeq`: highest stream seq applied to the partition's cache (0 while no host); `consumerRestarts`: stalled
   * consumers its watchdog reopened. Comparing appliedSeq with the subject's last stream seq shows a lagging owner.
   */
  owned: { partition: number; epoch: number; serving: boolean; appliedSeq: number; consumerRestarts: number }[];
  load: NodeLoad;
  outbox: { size: number; degraded: boolean; replicated: number; journaled: number; relayed: number };
  controlPlane: { mode: string; fallback: boolean; edgeFallbackTriggered: number; cacheMissRate: number; replayMode: string };
  routing: { remoteListeners: number; liveSubscriptions: number } & ClusterMailbox["counters"];
  ownershipEvents: { gained: number; lost: number; fenceOverruns: number };
}

export interface ClusterStatusSources {
  nodeId: string;
  url: string;
  partitions: number;
  membership: Membership;
  leases: LeaseManager;
  hosts: ReadonlyMap<number, PartitionHost>;
  journal: ReplicatedJournal;
  mediations: KvMediationStore;
  replay: KvReplayGuard;
  mailbox: ClusterMailbox;
  endpoint: OwnerEndpoint;
  load: NodeLoad;
  natsConnected: boolean;
  ownershipEvents: { gained: number; lost: number; fenceOverruns: number };
}

/** Contains no secrets: ids, URLs, counters. Bounded by the member count and PARTITIONS. */
export function clusterStatus(s: ClusterStatusSources): ClusterStatus {
  const view = s.membership.view();
  const j = s.journal.status();
  const cp = s.mediations.stats();
  return {
    nodeId: s.nodeId,
    url: s.url,
    state: s.membership.state,
    incarnation: s.membership.incarnation,
    natsConnected: s.natsConnected,
    partitions: s.partitions,
    live: view.live,
    members: view.members.map((m) => ({ nodeId: m.nodeId, state: m.state, incarnation: m.incarnation, url: m.url, load: m.load })),
    owned: s.leases.owned().map(({ partition, epoch }) => {
      const h = s.hosts.get(partition)?.status();
      return { partition, epoch, serving: h?.serving === true, appliedSeq: h?.appliedSeq ?? 0, consumerRestarts: h?.consumerRestarts ?? 0 };
    }),
    load: s.load,
    outbox: { size: j.outboxSize, degraded: j.degraded, replicated: j.replicated, journaled: j.journaled, relayed: j.relayed },
    controlPlane: {
      mode: cp.mode,
      fallback: cp.mode === "fallback",
      edgeFallbackTriggered: cp.edgeFallbackTriggered,
      cacheMissRate: cp.cacheMissRate,
      replayMode: s.replay.mode,
    },
    routing: { remoteListeners: s.endpoint.remoteListeners, liveSubscriptions: s.mailbox.live.size, ...s.mailbox.counters },
    ownershipEvents: { ...s.ownershipEvents },
  };
}
