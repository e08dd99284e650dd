// Test helpers for membership: a ManualClock cluster of Membership instances over a MemoryGossipHub.
import { ManualClock } from "../../src/runtime/clock.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { MemoryGossipHub } from "../../src/membership/memory-transport.ts";
import { Membership } from "../../src/membership/membership.ts";
import type { MemberState, MembershipView } from "../../src/membership/types.ts";

export const TIMING = { heartbeatIntervalMs: 250, suspectAfterMs: 1000, deadAfterMs: 2000, probeTimeoutMs: 500, checkIntervalMs: 100 };

export interface SimCluster {
  clock: ManualClock;
  hub: MemoryGossipHub;
  nodes: Map<string, Membership>;
  /** Every state each observer saw for each member, in order (deduplicated consecutive). */
  history: Map<string, Map<string, MemberState[]>>;
}

export function simCluster(ids: string[], seed = 1): SimCluster {
  const clock = new ManualClock();
  const hub = new MemoryGossipHub(clock);
  const nodes = new Map<string, Membership>();
  const history = new Map<string, Map<string, MemberState[]>>();
  for (const id of ids) {
    const m = new Membership({ nodeId: id, url: `http://${id}`, transport: hub.transport(id), clock, random: seededRandom(seed), ...TIMING });
    const seen = new Map<string, MemberState[]>();
    history.set(id, seen);
    m.onChange((view: MembershipView) => {
      for (const info of view.members) {
        const list = seen.get(info.nodeId) ?? [];
        if (list.at(-1) !== info.state) list.push(info.state);
        seen.set(info.nodeId, list);
      }
    });
    nodes.set(id, m);
  }
  return { clock, hub, nodes, history };
}

export function stateOf(m: Membership, id: string): MemberState | undefined {
  return m.view().members.find((x) => x.nodeId === id)?.state;
}

export function incarnationOf(m: Membership, id: string): number | undefined {
  return m.view().members.find((x) => x.nodeId === id)?.incarnation;
}
