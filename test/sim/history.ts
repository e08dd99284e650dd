// The recorded history of one simulation run: what the workload sent, saw and confirmed, and what nodes reported owning.

/** One forward attempt: `status` is the HTTP status, or "error" (timeout, refused connection: outcome unknown). */
export interface ForwardRecord {
  /** The unique content of the inner message: the id the checkers follow from 202 to delivery. */
  msgId: string;
  recipient: string;
  via: string;
  status: number | "error";
  /** For a refusal with a packed problem report: its code (e.g. "e.p.req.recipient-not-enrolled"). */
  problem?: string;
  sentAtMs: number;
  doneAtMs: number;
}

/** One message seen by a recipient, through a pickup reply or a live push. */
export interface DeliveryRecord {
  msgId: string;
  /** Stored id (the attachment id) used to confirm it. */
  storedId: string;
  recipient: string;
  kind: "pickup" | "live";
  node: string;
  /** When the request that produced it was sent (pickup) or when the frame arrived (live). */
  requestSentAtMs: number;
  atMs: number;
}

/** A messages-received request; `ok` only when the mediator answered it with a status (the confirmation took). */
export interface ConfirmRecord {
  recipient: string;
  storedIds: string[];
  /** The message ids those stored ids were delivered as (known from the deliveries). */
  msgIds: string[];
  node: string;
  ok: boolean;
  sentAtMs: number;
  doneAtMs: number;
}

/** One node answering that it serves `partition` at `epoch` (only serving entries are recorded). */
export interface OwnershipSample {
  node: string;
  partition: number;
  epoch: number;
  /** Wall-clock window in which the answer was produced. */
  sentAtMs: number;
  recvAtMs: number;
}

/** One node's /cluster/status after healing (null fields when it did not answer). */
export interface FinalStatus {
  node: string;
  live: string[] | null;
  owned: { partition: number; epoch: number; serving: boolean }[];
}

/** One node's view of the webhook destination's breaker after healing (null fields when it did not answer). */
export interface BreakerView {
  node: string;
  /** `GET /admin/breakers` top-level mode: "shared", or "local" while the node runs its in-memory fallback. */
  mode: string | null;
  /** The destination's item: which store it was read from, its phase and the consecutive failures counted. */
  store: string | null;
  phase: string | null;
  failures: number | null;
  probeHeld: boolean | null;
  openedAt: string | null;
  /** This process's `haven_breaker_transitions_total{to="open"}` (lost with a killed process: a lower bound overall). */
  transitionsToOpen: number | null;
}

/** Recorded at the end of a webhook run, after healing, the post-heal event and the bounded wait for the breaker. */
export interface BreakerFinal {
  destination: string;
  /** BREAKER_FAILURE_THRESHOLD the nodes ran with. */
  threshold: number;
  /** Requests the endpoint received, and those not answered 2xx (5xx, or still held/aborted: never a success). */
  endpointRequests: number;
  endpointNotOk: number;
  views: BreakerView[];
}

export interface History {
  /** The node ids that must all be live after healing. */
  expectedNodes: string[];
  partitions: number;
  forwards: ForwardRecord[];
  deliveries: DeliveryRecord[];
  confirmations: ConfirmRecord[];
  ownership: OwnershipSample[];
  final: FinalStatus[];
  /** Only for runs with webhooks. */
  breaker?: BreakerFinal;
}

export function emptyHistory(expectedNodes: string[], partitions: number): History {
  return { expectedNodes: [...expectedNodes], partitions, forwards: [], deliveries: [], confirmations: [], ownership: [], final: [] };
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the recorders of one process. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
