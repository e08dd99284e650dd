// MailRecord: one accepted forward as replicated through JetStream; compact msgpack encoding with strict decoding.
import { decode, encode } from "@msgpack/msgpack";
import { ReplicationError, ReplicationErrorCode } from "./errors.ts";

export interface MailRecord {
  /** Message id (becomes the stored message id at the owner). */
  id: string;
  /** Deduplication id: sent as Nats-Msg-Id and used as the owner's dedup key. Printable ASCII, no spaces. */
  dedupId: string;
  /** The client DID owning the mailbox. */
  mailbox: string;
  /** partitionOf(mailbox); selects the subject haven.mail.<partition>. */
  partition: number;
  recipientDid: string;
  payload: Uint8Array;
  receivedAtMs: number;
  expiresAtMs: number | null;
}

/** ids and DIDs: did:peer:2 DIDs with services can run to a few KB (same bound as storage). */
export const MAX_RECORD_KEY_CHARS = 4096;
/** Nats-Msg-Id travels in a header: keep it short and header-safe. */
export const MAX_DEDUP_ID_CHARS = 256;
/** Hard cap on a payload; below NATS's default max_payload (1 MiB) with room for the envelope. */
export const MAX_RECORD_PAYLOAD_BYTES = 1_000_000;
/** Upper bound for a partition number (PARTITIONS is fixed per cluster, far below this). */
export const MAX_PARTITION = 65_535;

/** Encoding version: the first array element, so a future layout can be told apart. */
const VERSION = 1;
const DEDUP_ID = /^[\x21-\x7e]+$/;

function invalid(field: string, why: string, code: ReplicationErrorCode): ReplicationError {
  return new ReplicationError(code, `${field} ${why}`);
}

function checkStr(v: unknown, field: string, max: number, code: ReplicationErrorCode): asserts v is string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) {
    throw invalid(field, `must be a non-empty string of at most ${max} chars`, code);
  }
}

function checkUint(v: unknown, field: string, code: ReplicationErrorCode): asserts v is number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(field, "must be a non-negative safe integer", code);
}

/** Throws ReplicationError (InvalidArgument for callers, CorruptRecord for decoded data) unless `r` is a valid record. */
export function checkRecord(r: MailRecord, code: ReplicationErrorCode = ReplicationErrorCode.InvalidArgument): void {
  if (typeof r !== "object" || r === null) throw invalid("record", "must be an object", code);
  checkStr(r.id, "id", MAX_RECORD_KEY_CHARS, code);
  checkStr(r.dedupId, "dedupId", MAX_DEDUP_ID_CHARS, code);
  if (!DEDUP_ID.test(r.dedupId)) throw invalid("dedupId", "must be printable ASCII without spaces", code);
  checkStr(r.mailbox, "mailbox", MAX_RECORD_KEY_CHARS, code);
  checkStr(r.recipientDid, "recipientDid", MAX_RECORD_KEY_CHARS, code);
  if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition > MAX_PARTITION) {
    throw invalid("partition", `must be an integer in 0..${MAX_PARTITION}`, code);
  }
  if (!(r.payload instanceof Uint8Array) || r.payload.byteLength > MAX_RECORD_PAYLOAD_BYTES) {
    throw invalid("payload", `must be a Uint8Array of at most ${MAX_RECORD_PAYLOAD_BYTES} bytes`, code);
  }
  checkUint(r.receivedAtMs, "receivedAtMs", code);
  if (r.expiresAtMs !== null) checkUint(r.expiresAtMs, "expiresAtMs", code);
}

/** Positional array: smaller and faster than a map, and the version slot allows evolution. */
export function encodeRecord(r: MailRecord): Uint8Array {
  return encode([VERSION, r.id, r.dedupId, r.mailbox, r.partition, r.recipientDid, r.payload, r.receivedAtMs, r.expiresAtMs]);
}

/** Strict decode of stream/journal bytes; anything unexpected is a CorruptRecord error, never a TypeError. */
export function decodeRecord(bytes: Uint8Array): MailRecord {
  const corrupt = ReplicationErrorCode.CorruptRecord;
  if (bytes.byteLength > MAX_RECORD_PAYLOAD_BYTES + 5 * MAX_RECORD_KEY_CHARS + 64) {
    throw new ReplicationError(corrupt, "record too large");
  }
  let v: unknown;
  try {
    v = decode(bytes, { maxStrLength: MAX_RECORD_KEY_CHARS, maxBinLength: MAX_RECORD_PAYLOAD_BYTES, maxArrayLength: 16, maxMapLength: 0 });
  } catch (cause) {
    throw new ReplicationError(corrupt, "record is not valid msgpack", { cause });
  }
  if (!Array.isArray(v) || v.length !== 9 || v[0] !== VERSION) throw new ReplicationError(corrupt, "unknown record layout");
  const rec: MailRecord = {
    id: v[1] as string,
    dedupId: v[2] as string,
    mailbox: v[3] as string,
    partition: v[4] as number,
    recipientDid: v[5] as string,
    payload: v[6] as Uint8Array,
    receivedAtMs: v[7] as number,
    expiresAtMs: v[8] as number | null,
  };
  checkRecord(rec, corrupt);
  return rec;
}

/**
 * A confirmation marker on a partition's subject: the dedup ids the owner confirmed (their records were deleted from
 * the stream). Any replica of the partition -- the next owner rebuilding it included -- remembers them, so a copy of
 * such a record re-published later (a journal relaying after its PubAck was lost, or re-publishing after a stream
 * loss) is not delivered again. Layout version 2, so replicas tell it from a mail record.
 */
export interface ConfirmMarker {
  partition: number;
  dedupIds: string[];
}

const MARKER_VERSION = 2;
/** Dedup ids per marker: a confirm call's chunk (bounded by the replica's maxConfirmBatch), well below max_payload. */
export const MAX_MARKER_IDS = 1000;

export function encodeConfirmMarker(m: ConfirmMarker): Uint8Array {
  if (!Number.isInteger(m.partition) || m.partition < 0 || m.partition > MAX_PARTITION) throw invalid("partition", "out of range", ReplicationErrorCode.InvalidArgument);
  if (m.dedupIds.length === 0 || m.dedupIds.length > MAX_MARKER_IDS) throw invalid("dedupIds", `must hold 1..${MAX_MARKER_IDS} ids`, ReplicationErrorCode.InvalidArgument);
  return encode([MARKER_VERSION, m.partition, m.dedupIds]);
}

/** The marker in `bytes`, or null when they are not one (a mail record, or anything else: decodeRecord judges those). */
export function decodeConfirmMarker(bytes: Uint8Array): ConfirmMarker | null {
  // Cheap check first: a msgpack fixarray of 3 whose first element is the positive fixint 2.
  if (bytes.byteLength < 3 || bytes[0] !== 0x93 || bytes[1] !== MARKER_VERSION) return null;
  let v: unknown;
  try {
    v = decode(bytes, { maxStrLength: MAX_DEDUP_ID_CHARS, maxArrayLength: MAX_MARKER_IDS, maxMapLength: 0, maxBinLength: 0 });
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 3 || v[0] !== MARKER_VERSION) return null;
  const [, partition, ids] = v as [number, unknown, unknown];
  if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) > MAX_PARTITION) return null;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === "string" && id.length > 0 && DEDUP_ID.test(id))) return null;
  return { partition: partition as number, dedupIds: ids as string[] };
}
