// The breaker's shared record per destination (one KV value), its msgpack codec and the validation of what comes back from the store.
import { decode, encode } from "@msgpack/msgpack";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";

export type BreakerPhase = "closed" | "open" | "half-open";

/** A reservation (closed state) or the probe (half-open): who holds it, until when it counts. */
export interface BreakerHolder {
  /** Node that was admitted (for diagnostics; completion matches on token). */
  readonly node: string;
  /** Random, unique per admission: the completion must present it. */
  readonly token: string;
  /** Admission order on this record; a success only clears failures of calls admitted before it. */
  readonly seq: number;
  /** Wall-clock ms after which the holder is presumed dead and its slot is freed. */
  readonly expiresAtMs: number;
}

/**
 * What an operation that is not idempotent by itself did (a transition, or failures added without a
 * reservation), keyed by the operation's token. A store call can time out after its write landed; the
 * retry finds its mark here and neither applies the operation twice nor loses its transition.
 */
export interface BreakerMark {
  readonly token: string;
  readonly op: "admit" | "complete" | "add" | "merge" | "reset";
  /** Failures added (op "add"/"merge"). */
  readonly n: number;
  readonly change: { readonly from: BreakerPhase; readonly to: BreakerPhase; readonly reason: MarkReason; readonly failures: number } | null;
}
type MarkReason = "threshold" | "open-elapsed" | "probe-success" | "probe-failure" | "reconcile" | "reset";

export interface BreakerRecord {
  readonly v: 1;
  readonly phase: BreakerPhase;
  /** Record seqs at which the consecutive failures counted so far were recorded (closed only); length <= threshold. */
  readonly failSeqs: readonly number[];
  /** Admitted calls not yet completed (closed only). INVARIANT: failSeqs.length + inFlight.length <= threshold. */
  readonly inFlight: readonly BreakerHolder[];
  /** The single half-open probe, or null. */
  readonly probe: BreakerHolder | null;
  /** When the breaker last opened (wall ms), null while it never did. */
  readonly openedAtMs: number | null;
  /** Next seq: taken by every admission and every recorded failure, so seqs order them on this record. */
  readonly nextSeq: number;
  /** The last MAX_MARKS marks, oldest first. */
  readonly marks: readonly BreakerMark[];
}

/** Marks kept: enough for every retry window (marks are written only by transitions and unreserved failures, both rare). */
export const MAX_MARKS = 16;

/** Upper bound on any threshold: bounds record size (inFlight and failSeqs are at most this long). */
export const MAX_FAILURE_THRESHOLD = 1000;
export const MAX_RECORD_BYTES = 256 * 1024;
const MAX_TOKEN_CHARS = 64;
const MAX_NODE_CHARS = 256;

export function initialRecord(): BreakerRecord {
  return { v: 1, phase: "closed", failSeqs: [], inFlight: [], probe: null, openedAtMs: null, nextSeq: 1, marks: [] };
}

export function encodeRecord(r: BreakerRecord): Uint8Array {
  return encode(r);
}

/** Decodes and validates a stored record; anything malformed is a StoreUnavailable error (the store is not trustworthy). */
export function decodeRecord(bytes: Uint8Array): BreakerRecord {
  if (bytes.length > MAX_RECORD_BYTES) throw corrupt("record too large");
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (e) {
    throw corrupt("record does not decode", e);
  }
  const o = raw as Record<string, unknown>;
  if (typeof o !== "object" || o === null || o.v !== 1) throw corrupt("unknown record version");
  if (o.phase !== "closed" && o.phase !== "open" && o.phase !== "half-open") throw corrupt("bad phase");
  const failSeqs = o.failSeqs;
  if (!Array.isArray(failSeqs) || failSeqs.length > MAX_FAILURE_THRESHOLD || !failSeqs.every(isSeq)) throw corrupt("bad failSeqs");
  const inFlight = o.inFlight;
  if (!Array.isArray(inFlight) || inFlight.length > MAX_FAILURE_THRESHOLD) throw corrupt("bad inFlight");
  const holders = inFlight.map(checkHolder);
  const probe = o.probe === null ? null : checkHolder(o.probe);
  const openedAtMs = o.openedAtMs;
  if (openedAtMs !== null && !Number.isFinite(openedAtMs)) throw corrupt("bad openedAtMs");
  if (!isSeq(o.nextSeq)) throw corrupt("bad nextSeq");
  // Records written before marks existed have none.
  const marks = o.marks === undefined ? [] : o.marks;
  if (!Array.isArray(marks) || marks.length > MAX_MARKS) throw corrupt("bad marks");
  return {
    v: 1,
    phase: o.phase,
    failSeqs: failSeqs as number[],
    inFlight: holders,
    probe,
    openedAtMs: openedAtMs as number | null,
    nextSeq: o.nextSeq as number,
    marks: marks.map(checkMark),
  };
}

const PHASES: readonly string[] = ["closed", "open", "half-open"];
const OPS: readonly string[] = ["admit", "complete", "add", "merge", "reset"];
const REASONS: readonly string[] = ["threshold", "open-elapsed", "probe-success", "probe-failure", "reconcile", "reset"];

function checkMark(m: unknown): BreakerMark {
  const o = m as Record<string, unknown>;
  if (typeof o !== "object" || o === null) throw corrupt("bad mark");
  if (typeof o.token !== "string" || o.token.length === 0 || o.token.length > MAX_TOKEN_CHARS) throw corrupt("bad mark token");
  if (typeof o.op !== "string" || !OPS.includes(o.op) || !isSeq(o.n)) throw corrupt("bad mark fields");
  let change: BreakerMark["change"] = null;
  if (o.change !== null) {
    const c = o.change as Record<string, unknown>;
    if (typeof c !== "object" || c === null) throw corrupt("bad mark change");
    if (typeof c.from !== "string" || !PHASES.includes(c.from) || typeof c.to !== "string" || !PHASES.includes(c.to)) throw corrupt("bad mark phases");
    if (typeof c.reason !== "string" || !REASONS.includes(c.reason) || !isSeq(c.failures)) throw corrupt("bad mark change fields");
    change = { from: c.from as BreakerPhase, to: c.to as BreakerPhase, reason: c.reason as MarkReason, failures: c.failures as number };
  }
  return { token: o.token, op: o.op as BreakerMark["op"], n: o.n as number, change };
}

function isSeq(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function checkHolder(h: unknown): BreakerHolder {
  const o = h as Record<string, unknown>;
  if (typeof o !== "object" || o === null) throw corrupt("bad holder");
  if (typeof o.node !== "string" || o.node.length > MAX_NODE_CHARS) throw corrupt("bad holder node");
  if (typeof o.token !== "string" || o.token.length === 0 || o.token.length > MAX_TOKEN_CHARS) throw corrupt("bad holder token");
  if (!isSeq(o.seq) || !Number.isFinite(o.expiresAtMs)) throw corrupt("bad holder fields");
  return { node: o.node, token: o.token, seq: o.seq, expiresAtMs: o.expiresAtMs as number };
}

function corrupt(what: string, cause?: unknown): DeliveryError {
  return new DeliveryError(DeliveryErrorCode.StoreUnavailable, `breaker record invalid: ${what}`, { retryable: true, cause });
}
