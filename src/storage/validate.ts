// Input bounds shared by every driver, so all implementations reject exactly the same calls.
import { StorageError, StorageErrorCode } from "./errors.ts";
import type { EnqueueRequest, Mediation, Quota } from "./types.ts";

/** ids, DIDs, dedup keys: did:peer:2 DIDs with services can run to a few KB. */
export const MAX_KEY_CHARS = 4096;
/** Upper bound for list/listKeys/expire limits and remove() id batches. */
export const MAX_LIMIT = 1000;
/** listKeys offset bound (keeps paging queries cheap). */
export const MAX_OFFSET = 1_000_000;

function invalid(message: string): StorageError {
  return new StorageError(StorageErrorCode.InvalidArgument, message);
}

export function checkKey(value: unknown, field: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_KEY_CHARS) {
    throw invalid(`${field} must be a non-empty string of at most ${MAX_KEY_CHARS} chars`);
  }
}

/** A non-negative safe integer (timestamps, counts). */
export function checkUint(value: unknown, field: string): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} must be a non-negative safe integer`);
  }
}

export function checkLimit(value: unknown, field = "limit"): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0 || value > MAX_LIMIT) {
    throw invalid(`${field} must be an integer in 1..${MAX_LIMIT}`);
  }
}

export function checkEnqueue(req: EnqueueRequest, quota: Quota): void {
  if (typeof req !== "object" || req === null) throw invalid("request must be an object");
  checkKey(req.id, "id");
  checkKey(req.mailbox, "mailbox");
  checkKey(req.recipientDid, "recipientDid");
  checkKey(req.dedupKey, "dedupKey");
  if (!(req.payload instanceof Uint8Array)) throw invalid("payload must be a Uint8Array");
  checkUint(req.receivedAtMs, "receivedAtMs");
  if (req.expiresAtMs !== null) checkUint(req.expiresAtMs, "expiresAtMs");
  if (typeof quota !== "object" || quota === null) throw invalid("quota must be an object");
  checkUint(quota.maxCount, "quota.maxCount");
  checkUint(quota.maxBytes, "quota.maxBytes");
}

export function checkList(mailbox: string, opts: { limit: number; recipientDid?: string }): void {
  checkKey(mailbox, "mailbox");
  if (typeof opts !== "object" || opts === null) throw invalid("opts must be an object");
  checkLimit(opts.limit);
  if (opts.recipientDid !== undefined) checkKey(opts.recipientDid, "recipientDid");
}

export function checkRemove(mailbox: string, ids: readonly string[]): void {
  checkKey(mailbox, "mailbox");
  if (!Array.isArray(ids) || ids.length > MAX_LIMIT) throw invalid(`ids must be an array of at most ${MAX_LIMIT}`);
  for (const id of ids) checkKey(id, "id");
}

export function checkMediation(m: Mediation): void {
  if (typeof m !== "object" || m === null) throw invalid("mediation must be an object");
  checkKey(m.clientDid, "clientDid");
  checkKey(m.routingDid, "routingDid");
  checkUint(m.grantedAtMs, "grantedAtMs");
}

export function checkPage(opts: { offset: number; limit: number }): void {
  if (typeof opts !== "object" || opts === null) throw invalid("opts must be an object");
  checkUint(opts.offset, "offset");
  if (opts.offset > MAX_OFFSET) throw invalid(`offset must be at most ${MAX_OFFSET}`);
  checkLimit(opts.limit);
}

/** Returns the record's expiry (nowMs + ttlMs), bounded to a safe integer. */
export function checkReplay(sender: string, messageId: string, nowMs: number, ttlMs: number): number {
  checkKey(sender, "sender");
  checkKey(messageId, "messageId");
  checkUint(nowMs, "nowMs");
  checkUint(ttlMs, "ttlMs");
  if (ttlMs === 0) throw invalid("ttlMs must be positive");
  const expiresAtMs = nowMs + ttlMs;
  if (!Number.isSafeInteger(expiresAtMs)) throw invalid("nowMs + ttlMs must be a safe integer");
  return expiresAtMs;
}

/** Runs a synchronous body and turns its throw into a rejected promise (the contract's methods are async). */
export function attempt<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (e) {
    return Promise.reject(e);
  }
}
