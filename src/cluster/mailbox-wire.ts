// Wire formats between nodes for owner-routed mailbox calls and cross-node live delivery, with strict checks.
import { MailboxError, MailboxErrorCode } from "../mailbox/errors.ts";
import { NODE_ID_RE } from "../membership/types.ts";
import { StorageError, StorageErrorCode } from "../storage/errors.ts";
import { MAX_KEY_CHARS, MAX_LIMIT } from "../storage/validate.ts";
import type { StoredMessage } from "../storage/types.ts";
import { ClusterError, ClusterErrorCode, isClusterError } from "./errors.ts";

/** Owner-routed operations, answered on `haven.node.<owner>.mailbox`. */
export type MailboxRequest =
  | { op: "list"; mailbox: string; limit: number; recipientDid?: string }
  | { op: "stats"; mailbox: string; recipientDid?: string }
  | { op: "remove"; mailbox: string; ids: string[] }
  /** Registers a live listener on the owner that pushes to `holder`'s `haven.node.<holder>.live` as `subId`. */
  | { op: "subscribe"; mailbox: string; holder: string; subId: string }
  | { op: "unsubscribe"; holder: string; subId: string };

/** Pushed by the owner to the node holding the socket, on `haven.node.<holder>.live`. */
export type LiveRequest = { t: "msg"; subId: string; msg: StoredMessage } | { t: "closed"; subId: string; reason: string };

export const mailboxSubject = (nodeId: string): string => `haven.node.${nodeId}.mailbox`;
export const liveSubject = (nodeId: string): string => `haven.node.${nodeId}.live`;

const MAX_SUB_ID_CHARS = 64;

function bad(what: string): ClusterError {
  return new ClusterError(ClusterErrorCode.BadMessage, `bad request: ${what}`);
}

function str(v: unknown, what: string, max = MAX_KEY_CHARS): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw bad(what);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, what);
}

/** Validates a decoded request from another node (internal, but still bounded: a bug must not become a crash). */
export function parseMailboxRequest(v: unknown): MailboxRequest {
  if (typeof v !== "object" || v === null) throw bad("not an object");
  const r = v as Record<string, unknown>;
  switch (r.op) {
    case "list": {
      if (!Number.isInteger(r.limit) || (r.limit as number) < 1 || (r.limit as number) > MAX_LIMIT) throw bad("limit");
      const recipientDid = optStr(r.recipientDid, "recipientDid");
      return { op: "list", mailbox: str(r.mailbox, "mailbox"), limit: r.limit as number, ...(recipientDid ? { recipientDid } : {}) };
    }
    case "stats": {
      const recipientDid = optStr(r.recipientDid, "recipientDid");
      return { op: "stats", mailbox: str(r.mailbox, "mailbox"), ...(recipientDid ? { recipientDid } : {}) };
    }
    case "remove": {
      if (!Array.isArray(r.ids) || r.ids.length > MAX_LIMIT) throw bad("ids");
      return { op: "remove", mailbox: str(r.mailbox, "mailbox"), ids: r.ids.map((id) => str(id, "id")) };
    }
    case "subscribe":
    case "unsubscribe": {
      const holder = str(r.holder, "holder", 64);
      if (!NODE_ID_RE.test(holder)) throw bad("holder");
      const subId = str(r.subId, "subId", MAX_SUB_ID_CHARS);
      if (r.op === "unsubscribe") return { op: "unsubscribe", holder, subId };
      return { op: "subscribe", mailbox: str(r.mailbox, "mailbox"), holder, subId };
    }
    default:
      throw bad("unknown op");
  }
}

export function parseLiveRequest(v: unknown): LiveRequest {
  if (typeof v !== "object" || v === null) throw bad("not an object");
  const r = v as Record<string, unknown>;
  const subId = str(r.subId, "subId", MAX_SUB_ID_CHARS);
  if (r.t === "closed") return { t: "closed", subId, reason: str(r.reason, "reason", 32) };
  if (r.t !== "msg") throw bad("unknown live request");
  return { t: "msg", subId, msg: parseStoredMessage(r.msg) };
}

export function parseStoredMessage(v: unknown): StoredMessage {
  if (typeof v !== "object" || v === null) throw bad("message");
  const m = v as Record<string, unknown>;
  if (!(m.payload instanceof Uint8Array)) throw bad("payload");
  const uint = (x: unknown, what: string): number => {
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) throw bad(what);
    return x;
  };
  return {
    id: str(m.id, "id"),
    mailbox: str(m.mailbox, "mailbox"),
    recipientDid: str(m.recipientDid, "recipientDid"),
    payload: m.payload,
    sizeBytes: uint(m.sizeBytes, "sizeBytes"),
    receivedAtMs: uint(m.receivedAtMs, "receivedAtMs"),
    expiresAtMs: m.expiresAtMs === null ? null : uint(m.expiresAtMs, "expiresAtMs"),
  };
}

/**
 * A routing failure as the mailbox layer's callers understand it: the owner's own StorageError or
 * MailboxError is rebuilt (so protocols map it as on a single node); cluster trouble becomes a
 * retryable StorageError `unavailable` (a 503 to the client).
 */
export function toMailboxLayerError(e: unknown): Error {
  if (!isClusterError(e)) return e instanceof Error ? e : new Error("unknown failure");
  const remote = e.remote;
  if (remote?.name === "StorageError" && (Object.values(StorageErrorCode) as string[]).includes(remote.code)) {
    return new StorageError(remote.code as StorageErrorCode, remote.message, { retryable: remote.retryable, cause: e });
  }
  if (remote?.name === "MailboxError" && (Object.values(MailboxErrorCode) as string[]).includes(remote.code)) {
    return new MailboxError(remote.code as MailboxErrorCode, remote.message, { retryable: remote.retryable, cause: e });
  }
  if (e.code === ClusterErrorCode.BadMessage) return new StorageError(StorageErrorCode.InvalidArgument, "request out of bounds", { cause: e });
  return new StorageError(StorageErrorCode.Unavailable, "the mailbox's owner is unavailable; retry later", { retryable: true, cause: e });
}

/** NATS's default max_payload, for a connection that has not told us its server's. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Room kept for the reply envelope and NATS framing around a list reply. */
export const REPLY_HEADROOM_BYTES = 4096;
/** msgpack bytes of one StoredMessage besides its strings and payload: 7 keys, type/length prefixes, numbers. */
const MESSAGE_OVERHEAD_BYTES = 128;

/** An upper bound of the msgpack size of `m` (strings counted as UTF-8, worst case 3 bytes per UTF-16 unit). */
export function encodedSizeBound(m: StoredMessage): number {
  return MESSAGE_OVERHEAD_BYTES + m.payload.byteLength + 3 * (m.id.length + m.mailbox.length + m.recipientDid.length);
}

/**
 * The longest prefix of `msgs` whose encoding fits in `maxBytes`: a list reply from a remote owner must fit
 * in one NATS message, so the owner returns fewer messages (the client picks up the rest next time) rather
 * than failing. At least one message is returned when there is one (a single message always fits: it was
 * published through the same server limit).
 */
export function capListBytes(msgs: readonly StoredMessage[], maxBytes: number): StoredMessage[] {
  let total = 16; // array header
  let n = 0;
  for (const m of msgs) {
    total += encodedSizeBound(m);
    if (total > maxBytes && n > 0) break;
    n++;
  }
  return msgs.slice(0, n);
}
