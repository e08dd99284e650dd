// Webhook bodies and signatures: a body with ids and counts only (never message content or tokens), HMAC-SHA256 over its exact bytes.
import { createHmac, timingSafeEqual } from "node:crypto";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";

export const SIGNATURE_HEADER = "X-Haven-Signature";
export const TIMESTAMP_HEADER = "X-Haven-Timestamp";
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const WEBHOOK_EVENT_TYPE = "messages.waiting";

/** Secrets shorter than this are guessable; longer ones are a configuration mistake. */
export const MIN_SECRET_BYTES = 16;
export const MAX_SECRET_BYTES = 1024;
const MAX_ID_CHARS = 256;
const MAX_DID_CHARS = 4096;

export interface WebhookEventInput {
  /** Unique per event; also the Idempotency-Key. */
  eventId: string;
  recipientDid: string;
  /** Messages waiting that this event announces (>= 1). */
  messageCount: number;
  /** When the event was created (wall clock ms). */
  createdAtMs: number;
}

/**
 * The webhook body. Field set is fixed here, so content or tokens cannot leak in by accident:
 * `{ "type", "event_id", "recipient_did", "message_count", "created_at" }` (created_at is ISO 8601).
 */
export function webhookBody(e: WebhookEventInput): Uint8Array {
  checkText("eventId", e.eventId, MAX_ID_CHARS);
  checkText("recipientDid", e.recipientDid, MAX_DID_CHARS);
  if (!Number.isSafeInteger(e.messageCount) || e.messageCount < 1) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, "messageCount must be a positive integer");
  }
  if (!Number.isFinite(e.createdAtMs)) throw new DeliveryError(DeliveryErrorCode.Invalid, "createdAtMs must be finite");
  const json = JSON.stringify({
    type: WEBHOOK_EVENT_TYPE,
    event_id: e.eventId,
    recipient_did: e.recipientDid,
    message_count: e.messageCount,
    created_at: new Date(e.createdAtMs).toISOString(),
  });
  return new TextEncoder().encode(json);
}

/** "sha256=<lower-case hex HMAC-SHA256(secret, body)>". */
export function signBody(secret: string | Uint8Array, body: Uint8Array): string {
  const key = secretBytes(secret);
  return `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
}

/**
 * Headers for one webhook attempt. The timestamp is the attempt time in Unix seconds (informational:
 * the signature covers the body, which carries created_at, so receivers bound replay age with that).
 */
export function webhookHeaders(opts: { eventId: string; secret: string | Uint8Array; body: Uint8Array; nowMs: number }): Record<string, string> {
  checkText("eventId", opts.eventId, MAX_ID_CHARS);
  return {
    "Content-Type": "application/json",
    [IDEMPOTENCY_HEADER]: opts.eventId,
    [SIGNATURE_HEADER]: signBody(opts.secret, opts.body),
    [TIMESTAMP_HEADER]: String(Math.floor(opts.nowMs / 1000)),
  };
}

/** Receiver-side check (used by tests and documented for integrators): constant-time compare. */
export function verifySignature(secret: string | Uint8Array, body: Uint8Array, header: string | null | undefined): boolean {
  if (typeof header !== "string" || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  const expected = Buffer.from(signBody(secret, body), "utf8");
  const given = Buffer.from(header, "utf8");
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  if (!(bytes instanceof Uint8Array) || bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, `webhook secret must be ${MIN_SECRET_BYTES}..${MAX_SECRET_BYTES} bytes`);
  }
  return bytes;
}

function checkText(name: string, v: string, maxChars: number): void {
  if (typeof v !== "string" || v.length === 0 || v.length > maxChars) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, `${name} must be 1..${maxChars} characters`);
  }
}
