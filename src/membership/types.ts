// Membership data types: heartbeat payload, member states, views, and the gossip subjects.

/** What a node says about itself. "draining": still up but handing its partitions off; "leaving": about to exit. */
export type AnnouncedState = "alive" | "draining" | "leaving";
/** What the detector concludes about a member. */
export type MemberState = AnnouncedState | "suspect" | "dead";

export interface NodeLoad {
  eventLoopLagMs: number;
  rssBytes: number;
  queueDepth: number;
  openSockets: number;
}

/** Published every heartbeatIntervalMs on `haven.gossip.heartbeat` (msgpack). */
export interface Heartbeat {
  nodeId: string;
  /** Only the node itself raises it (at start: wall-clock ms, so a restart outranks its previous life; on refutation: +1). */
  incarnation: number;
  state: AnnouncedState;
  /** Public base URL of the node (for redirects and status). */
  url: string;
  load: NodeLoad;
  /** Sender's wall clock when sent (informational: never used for timing). */
  seenAtMs: number;
}

/** Published on `haven.gossip.suspect` when a member suspects (or has declared dead) `nodeId` at `incarnation`. */
export interface SuspectNotice {
  nodeId: string;
  incarnation: number;
  from: string;
}

export interface MemberInfo {
  nodeId: string;
  state: MemberState;
  incarnation: number;
  url: string;
  load: NodeLoad;
  /** Local monotonic time of the last heartbeat or successful probe. */
  lastSeenMonoMs: number;
}

/** A membership view: emitted on every change of the live set or of a member's state. */
export interface MembershipView {
  /** Sorted ids of the members that take ring ownership: alive or suspect (a suspect is not yet dead), not draining/leaving. */
  live: readonly string[];
  /** Every known member except removed dead/left ones, sorted by id (self included). */
  members: readonly MemberInfo[];
}

export const SUBJECT_HEARTBEAT = "haven.gossip.heartbeat";
export const SUBJECT_SUSPECT = "haven.gossip.suspect";
/** Request subject answered by node `id`: a direct ping, or a request to ping a third node (indirect probe). */
export function pingSubject(nodeId: string): string {
  return `haven.node.${nodeId}.ping`;
}

/** Node ids go into NATS subjects and ring keys: a restricted charset keeps both safe. */
export const NODE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function checkNodeId(id: string): string {
  if (typeof id !== "string" || !NODE_ID_RE.test(id)) {
    throw new RangeError(`node id must match ${NODE_ID_RE}, got ${JSON.stringify(String(id).slice(0, 80))}`);
  }
  return id;
}

export const ZERO_LOAD: NodeLoad = Object.freeze({ eventLoopLagMs: 0, rssBytes: 0, queueDepth: 0, openSockets: 0 });
