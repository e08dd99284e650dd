// Reading untrusted envelopes: size limit before any parsing, then JSON to an object.
import { parseJsonObject, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { DEFAULT_MAX_ENVELOPE_BYTES, type DidcommContext } from "./types.ts";

/** The configured envelope limit, checked to be a positive integer. */
export function maxEnvelopeBytesOf(ctx: DidcommContext): number {
  const max = ctx.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, "maxEnvelopeBytes must be a positive integer");
  }
  return max;
}

/**
 * Checks the size (UTF-8 bytes) and parses the envelope JSON. TooLarge is decided before parsing;
 * Malformed for non-JSON, truncated JSON or a non-object.
 */
export function readEnvelope(packed: string | Uint8Array, maxBytes: number): Record<string, unknown> {
  let text: string;
  if (typeof packed === "string") {
    // A string's UTF-8 size is between length and 3*length: only count bytes when it matters.
    if (packed.length > maxBytes || (packed.length * 3 > maxBytes && Buffer.byteLength(packed, "utf8") > maxBytes)) {
      throw new DidcommError(DidcommErrorCode.TooLarge, `envelope exceeds ${maxBytes} bytes`);
    }
    text = packed;
  } else if (packed instanceof Uint8Array) {
    if (packed.byteLength > maxBytes) throw new DidcommError(DidcommErrorCode.TooLarge, `envelope exceeds ${maxBytes} bytes`);
    text = utf8Decode(packed, "envelope");
  } else {
    throw new DidcommError(DidcommErrorCode.Malformed, "envelope must be a string or bytes");
  }
  return parseJsonObject(text, "envelope");
}

/** Decrypted or signed payload bytes to a JSON object (Malformed otherwise). */
export function payloadObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  return parseJsonObject(utf8Decode(bytes, what), what);
}
