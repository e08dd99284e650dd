// Validation of DIDComm v2 attachments (descriptor fields and the data object).
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { Attachment } from "./types.ts";

const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const STRING_FIELDS = ["id", "description", "filename", "media_type", "format"] as const;
const MAX_LINKS = 16;

function invalid(message: string): never {
  throw new DidcommError(DidcommErrorCode.InvalidMessage, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Validates one attachment in place and returns it typed. `at` names it in error messages. */
export function parseAttachment(input: unknown, at: string, maxStringLength: number): Attachment {
  if (!isObject(input)) invalid(`${at} is not an object`);
  for (const field of STRING_FIELDS) {
    const v = input[field];
    if (v === undefined) continue;
    if (typeof v !== "string") invalid(`${at}.${field} must be a string`);
    if (v.length > maxStringLength) invalid(`${at}.${field} exceeds ${maxStringLength} characters`);
  }
  if (input.lastmod_time !== undefined && !isNonNegativeInt(input.lastmod_time)) {
    invalid(`${at}.lastmod_time must be a non-negative integer (seconds)`);
  }
  if (input.byte_count !== undefined && !isNonNegativeInt(input.byte_count)) {
    invalid(`${at}.byte_count must be a non-negative integer`);
  }
  checkData(input.data, `${at}.data`, maxStringLength);
  return input as unknown as Attachment;
}

function checkData(data: unknown, at: string, maxStringLength: number): void {
  if (!isObject(data)) invalid(`${at} is required and must be an object`);
  const kinds = (data.base64 !== undefined ? 1 : 0) + (data.json !== undefined ? 1 : 0) + (data.links !== undefined ? 1 : 0);
  if (kinds !== 1) invalid(`${at} must contain exactly one of base64, json, links`);
  if (data.base64 !== undefined) {
    if (typeof data.base64 !== "string" || !BASE64_RE.test(data.base64)) invalid(`${at}.base64 is not valid base64`);
  }
  if (data.links !== undefined) {
    const links = data.links;
    if (!Array.isArray(links) || links.length === 0 || links.length > MAX_LINKS) {
      invalid(`${at}.links must be an array of 1..${MAX_LINKS} URIs`);
    }
    for (const link of links) {
      if (typeof link !== "string" || link.length === 0 || link.length > maxStringLength) {
        invalid(`${at}.links entries must be non-empty strings of at most ${maxStringLength} characters`);
      }
    }
    if (data.hash === undefined) invalid(`${at}.hash is required with links`);
  }
  if (data.hash !== undefined && (typeof data.hash !== "string" || data.hash.length === 0 || data.hash.length > maxStringLength)) {
    invalid(`${at}.hash must be a non-empty string`);
  }
  if (data.jws !== undefined && typeof data.jws !== "string" && !isObject(data.jws)) {
    invalid(`${at}.jws must be a JWS object or compact string`);
  }
}
