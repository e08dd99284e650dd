// Routing 2.0 forward messages: build one around an encrypted envelope, and parse one strictly.
import { randomUUID } from "node:crypto";
import { b64Decode, parseJsonObject, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { isDidUrl } from "./did-syntax.ts";
import type { Message } from "./types.ts";

export const FORWARD_TYPE = "https://didcomm.org/routing/2.0/forward";

/** Upper bound for a base64-carried forwarded envelope before decoding (chars). */
const MAX_FORWARD_BASE64_CHARS = 16 * 1024 * 1024;

function invalid(message: string): never {
  throw new DidcommError(DidcommErrorCode.InvalidMessage, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * A forward message asking the mediator to deliver `attached` (an encrypted envelope) to `next`
 * (a DID, or a DID URL naming a routing key). Forwards carry no `from`: they are anoncrypted.
 */
export function buildForward(next: string, attached: object, opts: { expiresTime?: number } = {}): Message {
  if (!isDidUrl(next)) invalid("forward next must be a DID or DID URL");
  if (!isObject(attached)) invalid("forwarded envelope must be a JSON object");
  const msg: Message = {
    id: randomUUID(),
    type: FORWARD_TYPE,
    body: { next },
    attachments: [{ id: randomUUID(), media_type: "application/didcomm-encrypted+json", data: { json: attached } }],
  };
  if (opts.expiresTime !== undefined) msg.expires_time = opts.expiresTime;
  return msg;
}

/**
 * Extracts `next` and the forwarded envelope from an already-validated message (see parseMessage).
 * Accepts the envelope as `data.json` or as `data.base64` of its JSON.
 */
export function parseForward(msg: Message): { next: string; forwarded: Record<string, unknown> } {
  if (msg.type !== FORWARD_TYPE) invalid("not a routing 2.0 forward message");
  const next = msg.body.next;
  if (!isDidUrl(next)) invalid("forward body.next must be a DID or DID URL");
  const atts = msg.attachments;
  if (atts === undefined || atts.length !== 1) invalid("forward must have exactly one attachment");
  const data = atts[0]!.data;
  if (!isObject(data)) invalid("forward attachment has no data");
  if (data.json !== undefined) {
    if (!isObject(data.json)) invalid("forward attachment data.json must be a JSON object");
    return { next, forwarded: data.json };
  }
  if (typeof data.base64 === "string") {
    if (data.base64.length > MAX_FORWARD_BASE64_CHARS) invalid("forward attachment is too large");
    try {
      return { next, forwarded: parseJsonObject(utf8Decode(b64Decode(data.base64)), "forwarded envelope") };
    } catch (cause) {
      throw new DidcommError(DidcommErrorCode.InvalidMessage, "forward attachment data.base64 is not a JSON object", { cause });
    }
  }
  invalid("forward attachment must carry data.json or data.base64");
}
