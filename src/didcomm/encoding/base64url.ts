// base64url (RFC 4648 §5, no padding) and UTF-8 helpers used by every JOSE structure.
import { DidcommError, DidcommErrorCode } from "../errors.ts";

const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function b64uEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Strict decode: rejects non-alphabet characters and impossible lengths with a typed error. */
export function b64uDecode(text: string, what = "base64url value"): Uint8Array {
  if (typeof text !== "string" || !B64URL_RE.test(text) || text.length % 4 === 1) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not valid base64url`);
  }
  const buf = Buffer.from(text, "base64url");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Accepts padded or unpadded standard base64 too (attachments use `base64`). */
export function b64Decode(text: string, what = "base64 value"): Uint8Array {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not valid base64`);
  }
  const buf = Buffer.from(text, "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Decode(bytes: Uint8Array, what = "value"): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not valid UTF-8`, { cause });
  }
}

export function b64uEncodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/** Decodes base64url(JSON(object)); anything but a JSON object is Malformed. */
export function b64uDecodeJson(text: string, what = "header"): Record<string, unknown> {
  const json = utf8Decode(b64uDecode(text, what), what);
  return parseJsonObject(json, what);
}

/** JSON.parse that only accepts an object and only throws DidcommError. */
export function parseJsonObject(text: string, what = "input"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not valid JSON`, { cause });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
