// Strict parsing of a DIDComm v2 plaintext message: every known header is type- and bound-checked.
import { parseJsonObject } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { parseAttachment } from "./attachment.ts";
import { isDid } from "./did-syntax.ts";
import { MESSAGE_DEFAULTS, PLAINTEXT_TYP, type Message, type ParseMessageOptions } from "./types.ts";

const OPTIONAL_STRINGS = ["thid", "pthid", "lang"] as const;
const STRING_LISTS = ["please_ack", "ack"] as const;
const RETURN_ROUTES: ReadonlySet<unknown> = new Set(["none", "all", "thread"]);
const COMPACT_JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function invalid(message: string): never {
  throw new DidcommError(DidcommErrorCode.InvalidMessage, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function bound(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, `option ${name} must be a non-negative integer`);
  }
  return v;
}

/**
 * Validates a plaintext message (a JSON string or an already-parsed object) and returns it typed.
 * The object is validated in place and returned as-is (no copy: this is on the mediator's hot
 * path), so custom headers are preserved. Throws Malformed for non-JSON, InvalidMessage for model
 * violations and Expired when `opts.now` is given and `expires_time` has passed.
 */
export function parseMessage(input: unknown, opts: ParseMessageOptions = {}): Message {
  const maxLen = bound("maxHeaderLength", opts.maxHeaderLength, MESSAGE_DEFAULTS.maxHeaderLength);
  const maxList = bound("maxListEntries", opts.maxListEntries, MESSAGE_DEFAULTS.maxListEntries);
  const m = typeof input === "string" ? parseJsonObject(input, "plaintext message") : input;
  if (!isObject(m)) invalid("message is not a JSON object");

  let headers = 0;
  const maxHeaders = bound("maxHeaders", opts.maxHeaders, MESSAGE_DEFAULTS.maxHeaders);
  for (const _ in m) if (++headers > maxHeaders) invalid(`message has more than ${maxHeaders} headers`);

  checkString(m, "id", maxLen, true);
  checkString(m, "type", maxLen, true);
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(m.type as string)) invalid("type must be a URI");
  if (m.typ !== undefined && m.typ !== PLAINTEXT_TYP) invalid(`typ must be ${PLAINTEXT_TYP}`);
  if (!isObject(m.body)) invalid("body is required and must be a JSON object");

  if (m.from !== undefined) {
    checkString(m, "from", maxLen, false);
    if (!isDid(m.from)) invalid("from must be a DID without path, query or fragment");
  }
  if (m.to !== undefined) {
    checkList(m, "to", maxLen, maxList);
    if (!(m.to as string[]).every(isDid)) invalid("to entries must be DIDs without path, query or fragment");
  }
  for (const h of OPTIONAL_STRINGS) if (m[h] !== undefined) checkString(m, h, maxLen, false);
  for (const h of STRING_LISTS) if (m[h] !== undefined) checkList(m, h, maxLen, maxList);

  if (m.created_time !== undefined && !isTime(m.created_time)) invalid("created_time must be a non-negative integer (seconds)");
  if (m.expires_time !== undefined && !isTime(m.expires_time)) invalid("expires_time must be a non-negative integer (seconds)");
  if (m.return_route !== undefined && !RETURN_ROUTES.has(m.return_route)) invalid("return_route must be none, all or thread");

  if (m.from_prior !== undefined) {
    const maxJwt = bound("maxFromPriorLength", opts.maxFromPriorLength, MESSAGE_DEFAULTS.maxFromPriorLength);
    checkString(m, "from_prior", maxJwt, false);
    if (!COMPACT_JWT_RE.test(m.from_prior as string)) invalid("from_prior must be a compact JWT");
    if (m.from === undefined) invalid("from_prior requires from");
  }

  if (m.attachments !== undefined) {
    const maxAtt = bound("maxAttachments", opts.maxAttachments, MESSAGE_DEFAULTS.maxAttachments);
    if (!Array.isArray(m.attachments)) invalid("attachments must be an array");
    if (m.attachments.length > maxAtt) invalid(`attachments exceed ${maxAtt} entries`);
    for (let i = 0; i < m.attachments.length; i++) parseAttachment(m.attachments[i], `attachments[${i}]`, maxLen);
  }

  if (opts.now !== undefined && m.expires_time !== undefined) {
    // Compared in milliseconds: a message expiring this very second is still valid.
    if ((m.expires_time as number) * 1000 < opts.now()) {
      throw new DidcommError(DidcommErrorCode.Expired, "message expires_time is in the past");
    }
  }
  return m as Message;
}

function checkString(m: Record<string, unknown>, name: string, maxLen: number, required: boolean): void {
  const v = m[name];
  if (v === undefined) {
    if (required) invalid(`${name} is required`);
    return;
  }
  if (typeof v !== "string") invalid(`${name} must be a string`);
  if (v.length === 0) invalid(`${name} must not be empty`);
  if (v.length > maxLen) invalid(`${name} exceeds ${maxLen} characters`);
}

function checkList(m: Record<string, unknown>, name: string, maxLen: number, maxEntries: number): void {
  const v = m[name];
  if (!Array.isArray(v)) invalid(`${name} must be an array of strings`);
  if (v.length > maxEntries) invalid(`${name} exceeds ${maxEntries} entries`);
  for (const e of v) {
    if (typeof e !== "string") invalid(`${name} must be an array of strings`);
    if (e.length > maxLen) invalid(`${name} entry exceeds ${maxLen} characters`);
  }
}
