// Membership (failure detector) options with defaults and bounds.
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { GossipTransport } from "./transport.ts";
import type { NodeLoad } from "./types.ts";

export interface MembershipOptions {
  nodeId: string;
  /** Public base URL announced in heartbeats. */
  url: string;
  transport: GossipTransport;
  clock: Clock;
  /** Picks the helpers of indirect probes. */
  random: Random;
  /** Current load, sampled for each heartbeat. Default: zeros. */
  load?: () => NodeLoad;
  heartbeatIntervalMs?: number;
  /** No heartbeat for this long: suspect, probe. Default 1000. */
  suspectAfterMs?: number;
  /** No heartbeat (nor successful probe) for this long: dead. Default 2000. */
  deadAfterMs?: number;
  /** Deadline of one probe round (direct + indirect). Default 500. */
  probeTimeoutMs?: number;
  /** Helpers asked to ping a suspect (k). Default 3. */
  indirectProbes?: number;
  /** How often silence is checked; detection latency granularity. Default 100. */
  checkIntervalMs?: number;
  /** Dead and left members are forgotten after this long (bounds memory). Default 60000. */
  forgetAfterMs?: number;
  /** Members tracked at most (others' heartbeats are ignored). Default 1024. */
  maxMembers?: number;
}

export type ResolvedMembershipOptions = Required<Omit<MembershipOptions, "load">> & { load: () => NodeLoad };

function bounded(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) throw new RangeError(`${name} must be within ${min}..${max}, got ${v}`);
  return v;
}

export function resolveMembershipOptions(o: MembershipOptions): ResolvedMembershipOptions {
  const heartbeatIntervalMs = bounded("heartbeatIntervalMs", o.heartbeatIntervalMs ?? 250, 10, 60_000);
  const suspectAfterMs = bounded("suspectAfterMs", o.suspectAfterMs ?? 1000, 2 * heartbeatIntervalMs, 600_000);
  const deadAfterMs = bounded("deadAfterMs", o.deadAfterMs ?? 2000, suspectAfterMs + 1, 3_600_000);
  // The probe round must end before the dead deadline, or its answer could not save the member.
  const probeTimeoutMs = bounded("probeTimeoutMs", o.probeTimeoutMs ?? 500, 1, deadAfterMs - suspectAfterMs);
  return {
    nodeId: o.nodeId,
    url: o.url,
    transport: o.transport,
    clock: o.clock,
    random: o.random,
    load: o.load ?? (() => ({ eventLoopLagMs: 0, rssBytes: 0, queueDepth: 0, openSockets: 0 })),
    heartbeatIntervalMs,
    suspectAfterMs,
    deadAfterMs,
    probeTimeoutMs,
    indirectProbes: bounded("indirectProbes", o.indirectProbes ?? 3, 0, 16),
    checkIntervalMs: bounded("checkIntervalMs", o.checkIntervalMs ?? 100, 1, suspectAfterMs),
    forgetAfterMs: bounded("forgetAfterMs", o.forgetAfterMs ?? 60_000, deadAfterMs, 86_400_000),
    maxMembers: bounded("maxMembers", o.maxMembers ?? 1024, 1, 65_536),
  };
}
