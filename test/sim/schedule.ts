// One seed decides a whole simulation run: the options' random parts, the workload's choices and the fault schedule.
import { seededRandom, type Random } from "../../src/runtime/random.ts";

/** Faults on one Haven node (at most one node faulty at a time): process faults and its NATS links through its proxies. */
export type NodeFaultKind = "kill" | "pause" | "partition" | "oneWay" | "latency" | "reset";
export type FaultKind = NodeFaultKind | "natsKill" | "endpointFail" | "endpointHang";

export interface FaultEvent {
  kind: FaultKind;
  /** "node-a".. for node faults, "n1".."n3" for NATS servers, "endpoint" for the webhook endpoint. */
  target: string;
  /** Not before this offset from the start of the fault window (a lane waits for the previous fault to heal). */
  atMs: number;
  /** How long the fault lasts before it is healed. */
  durationMs: number;
  /** Kind-specific parameters: direction ("up" = node->NATS, "down" = NATS->node), delay and jitter, reset count. */
  params: Record<string, string | number>;
}

export interface SimOptions {
  seed: number;
  /** Haven nodes (3 or 4); NATS servers are always 3. */
  nodes: number;
  partitions: number;
  /** Length of the window in which faults start and the workload runs. */
  faultWindowMs: number;
  /** Node-lane faults and NATS-server kills to schedule (fewer when the window runs out). */
  nodeFaults: number;
  natsFaults: number;
  /** Which node fault kinds may be drawn. */
  nodeFaultKinds: NodeFaultKind[];
  recipients: number;
  /** Recipients that also hold a live WebSocket. */
  liveRecipients: number;
  forwardWorkers: number;
  pickupWorkers: number;
  /** Register a webhook per recipient on an endpoint that fails or hangs in phases (not judged by a checker). */
  webhooks: boolean;
  /** Bounds for settling ownership and draining the mailboxes after healing. */
  settleTimeoutMs: number;
  drainTimeoutMs: number;
  /** Entry script of the Haven nodes (a planted-bug build under test/sim/bugs/); default src/main.ts. */
  entry?: string;
  /** Extra environment for every node (e.g. SIM_BUGS for the planted-bug build). */
  nodeEnv?: Record<string, string>;
}

export const ALL_NODE_FAULTS: NodeFaultKind[] = ["kill", "pause", "partition", "oneWay", "latency", "reset"];

export const DEFAULT_OPTIONS: Omit<SimOptions, "seed"> = {
  nodes: 3,
  partitions: 16,
  faultWindowMs: 14_000,
  nodeFaults: 4,
  natsFaults: 1,
  nodeFaultKinds: ALL_NODE_FAULTS,
  recipients: 4,
  liveRecipients: 2,
  forwardWorkers: 2,
  pickupWorkers: 1,
  webhooks: false,
  settleTimeoutMs: 60_000,
  drainTimeoutMs: 45_000,
};

export function resolveOptions(seed: number, partial: Partial<SimOptions> = {}): SimOptions {
  const o: SimOptions = { ...DEFAULT_OPTIONS, ...partial, seed };
  const inRange = (name: keyof SimOptions, v: number, lo: number, hi: number) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be an integer in ${lo}..${hi}, got ${v}`);
  };
  inRange("seed", seed, 0, Number.MAX_SAFE_INTEGER);
  inRange("nodes", o.nodes, 3, 4);
  inRange("partitions", o.partitions, 1, 256);
  inRange("faultWindowMs", o.faultWindowMs, 1_000, 600_000);
  inRange("nodeFaults", o.nodeFaults, 0, 100);
  inRange("natsFaults", o.natsFaults, 0, 20);
  inRange("recipients", o.recipients, 1, 50);
  inRange("liveRecipients", o.liveRecipients, 0, o.recipients);
  inRange("forwardWorkers", o.forwardWorkers, 1, 16);
  inRange("pickupWorkers", o.pickupWorkers, 0, 8);
  if (o.nodeFaults > 0 && o.nodeFaultKinds.length === 0) throw new RangeError("nodeFaultKinds is empty");
  return o;
}

export const nodeIdOf = (i: number): string => `node-${String.fromCharCode(97 + i)}`;

const between = (r: Random, lo: number, hi: number): number => lo + r.int(hi - lo + 1);
const pick = <T>(r: Random, items: readonly T[]): T => items[r.int(items.length)]!;

/**
 * Lanes keep the guarantee Haven claims (at most one Haven node and one NATS server faulty at a time): node faults
 * run one after another in the node lane, NATS server kills in theirs, endpoint phases in a third.
 */
export function generateSchedule(o: SimOptions): FaultEvent[] {
  // A separate stream per lane: adding an endpoint lane does not change the node lane of the same seed.
  const lane = (k: bigint) => seededRandom(BigInt(o.seed) * 8n + k); // seed < 2^53, so this stays below 2^64
  const nodeRng = lane(1n);
  const natsRng = lane(2n);
  const hookRng = lane(3n);
  const events: FaultEvent[] = [];

  let t = between(nodeRng, 500, 2_000);
  for (let i = 0; i < o.nodeFaults && t < o.faultWindowMs; i++) {
    const kind = pick(nodeRng, o.nodeFaultKinds);
    const target = nodeIdOf(nodeRng.int(o.nodes));
    const ev: FaultEvent = { kind, target, atMs: t, durationMs: 0, params: {} };
    switch (kind) {
      case "kill":
        ev.durationMs = between(nodeRng, 500, 2_500); // down time before the restart begins
        break;
      case "pause":
        ev.durationMs = between(nodeRng, 1_000, 3_000);
        break;
      case "partition":
        ev.durationMs = between(nodeRng, 1_500, 4_000);
        ev.params.mode = pick(nodeRng, ["blackhole", "cut"]);
        break;
      case "oneWay":
        ev.durationMs = between(nodeRng, 1_500, 4_000);
        ev.params.direction = pick(nodeRng, ["up", "down"]);
        break;
      case "latency":
        ev.durationMs = between(nodeRng, 2_000, 4_000);
        ev.params.delayMs = between(nodeRng, 20, 150);
        ev.params.jitterMs = between(nodeRng, 0, 100);
        break;
      case "reset":
        ev.durationMs = between(nodeRng, 1_000, 3_000);
        ev.params.resets = between(nodeRng, 1, 4);
        break;
    }
    events.push(ev);
    t += ev.durationMs + between(nodeRng, 1_000, 3_000);
  }

  t = between(natsRng, 1_000, 5_000);
  for (let i = 0; i < o.natsFaults && t < o.faultWindowMs; i++) {
    const ev: FaultEvent = { kind: "natsKill", target: `n${1 + natsRng.int(3)}`, atMs: t, durationMs: between(natsRng, 1_500, 4_000), params: {} };
    events.push(ev);
    t += ev.durationMs + between(natsRng, 3_000, 6_000);
  }

  if (o.webhooks) {
    t = between(hookRng, 0, 3_000);
    while (t < o.faultWindowMs) {
      const ev: FaultEvent = { kind: pick(hookRng, ["endpointFail", "endpointHang"] as const), target: "endpoint", atMs: t, durationMs: between(hookRng, 1_000, 4_000), params: {} };
      events.push(ev);
      t += ev.durationMs + between(hookRng, 1_000, 4_000);
    }
  }
  return events.sort((a, b) => a.atMs - b.atMs);
}

/** Per-worker random streams derived from the seed, so the workload's choices replay too. */
export function workloadRandom(seed: number, worker: string): Random {
  let h = 0x811c9dc5;
  for (const c of worker) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return seededRandom(((BigInt(seed) << 11n) ^ BigInt(h)) & ((1n << 64n) - 1n));
}

export function describeSchedule(events: readonly FaultEvent[]): string {
  return events
    .map((e) => `  +${e.atMs}ms ${e.kind} ${e.target} for ${e.durationMs}ms${Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`)
    .join("\n");
}
