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

export interface BreakerRecord {
  readonly v: 1;
  readonly phase: BreakerPhase;
  /** Admission seqs of the consecutive failures counted so far (closed only); length <= threshold. */
  readonly failSeqs: readonly number[];
  /** Admitted calls not yet completed (closed only). INVARIANT: failSeqs.length + inFlight.length <= threshold. */
  readonly inFlight: readonly BreakerHolder[];
  /** The single half-open probe, or null. */
  readonly probe: BreakerHolder | null;
  /** When the breaker last opened (wall ms), null while it never did. */
  readonly openedAtMs: number | null;
  /** Next admission seq. */
  readonly nextSeq: number;
}

/** Upper bound on any threshold: bounds record size (inFlight and failSeqs are at most this long). */
export const MAX_FAILURE_THRESHOLD = 1000;
export const MAX_RECORD_BYTES = 256 * 1024;
const MAX_TOKEN_CHARS = 64;
const MAX_NODE_CHARS = 256;

export function initialRecord(): BreakerRecord {
  return { v: 1, phase: "closed", failSeqs: [], inFlight: [], probe: null, openedAtMs: null, nextSeq: 1 };
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
  return {
    v: 1,
    phase: o.phase,
    failSeqs: failSeqs as number[],
    inFlight: holders,
    probe,
    openedAtMs: openedAtMs as number | null,
    nextSeq: o.nextSeq as number,
  };
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
