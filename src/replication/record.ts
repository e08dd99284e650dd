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
