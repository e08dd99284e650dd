// Content-type policy for POST /: only packed (encrypted or signed) DIDComm messages are accepted.
import { DIDCOMM_ENCRYPTED, DIDCOMM_PLAIN, DIDCOMM_SIGNED } from "./responses.ts";

export type ContentTypeCheck = { ok: true; mediaType: string } | { ok: false; reason: string };

const ACCEPTED = new Set([DIDCOMM_ENCRYPTED, DIDCOMM_SIGNED]);
/** A header longer than this is not a content type we know; refuse before any parsing. */
const MAX_CONTENT_TYPE_CHARS = 256;

/** The media type without parameters, lowercased (`Application/DIDComm-Encrypted+JSON; charset=utf-8`). */
export function mediaTypeOf(header: string): string {
  const semi = header.indexOf(";");
  return (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
}

export function checkContentType(header: string | null): ContentTypeCheck {
  if (header === null || header.trim() === "") {
    return { ok: false, reason: `missing content-type; send ${DIDCOMM_ENCRYPTED} or ${DIDCOMM_SIGNED}` };
  }
  if (header.length > MAX_CONTENT_TYPE_CHARS) return { ok: false, reason: "content-type header too long" };
  const mediaType = mediaTypeOf(header);
  if (ACCEPTED.has(mediaType)) return { ok: true, mediaType };
  if (mediaType === DIDCOMM_PLAIN || mediaType === "application/json") {
    // A mediator only takes messages it can authenticate or that are addressed to it: plaintext is refused.
    return { ok: false, reason: `plaintext DIDComm messages are not accepted; send ${DIDCOMM_ENCRYPTED} or ${DIDCOMM_SIGNED}` };
  }
  return { ok: false, reason: `unsupported content-type; send ${DIDCOMM_ENCRYPTED} or ${DIDCOMM_SIGNED}` };
}
