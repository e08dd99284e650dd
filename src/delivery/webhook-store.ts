// The webhook registry interface: one webhook per recipient DID; secrets go in but only come out through resolveSecret.
import { Secret } from "../config/secret.ts";
import { isDidUrl } from "../didcomm/message/did-syntax.ts";
import { parseDeliveryUrl } from "./destination.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from "./signing.ts";

export const MAX_WEBHOOK_DID_CHARS = 4096;
export const MAX_WEBHOOK_PAGE = 1000;

export interface WebhookInput {
  readonly recipientDid: string;
  /** http(s) URL, no credentials. */
  readonly url: string;
  /** HMAC key, MIN_SECRET_BYTES..MAX_SECRET_BYTES bytes of UTF-8. */
  readonly secret: string;
}

/** What may be shown or logged: never the secret. */
export interface WebhookView {
  readonly recipientDid: string;
  readonly url: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export interface WebhookPage {
  readonly items: WebhookView[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface WebhookStore {
  /** Creates or replaces the recipient's webhook; returns its view. */
  put(w: WebhookInput): Promise<WebhookView>;
  get(recipientDid: string): Promise<WebhookView | null>;
  /** True if one was deleted. */
  delete(recipientDid: string): Promise<boolean>;
  /** Ordered by recipient DID; `limit` 1..1000 (default 100), `after` = the previous page's `next`. */
  list(page?: { limit?: number; after?: string | null }): Promise<WebhookPage>;
  /** The signing secret, wrapped so it cannot end up in logs by accident; null if none registered. */
  resolveSecret(recipientDid: string): Promise<Secret | null>;
}

/** Validates and normalises input; throws DeliveryError(Invalid) naming the field (never echoing the secret). */
export function validateWebhook(w: WebhookInput): WebhookInput {
  if (w === null || typeof w !== "object") throw invalid("webhook must be an object");
  checkDid(w.recipientDid);
  const { url } = parseDeliveryUrl(w.url);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("url must be http or https");
  if (typeof w.secret !== "string") throw invalid("secret must be a string");
  const n = Buffer.byteLength(w.secret, "utf8");
  if (n < MIN_SECRET_BYTES || n > MAX_SECRET_BYTES) throw invalid(`secret must be ${MIN_SECRET_BYTES}..${MAX_SECRET_BYTES} bytes`);
  return { recipientDid: w.recipientDid, url: url.href, secret: w.secret };
}

export function checkDid(did: unknown): string {
  if (!isDidUrl(did) || did.length > MAX_WEBHOOK_DID_CHARS) throw invalid("recipient_did must be a DID or DID URL");
  return did;
}

export function checkPage(page: { limit?: number; after?: string | null } = {}): { limit: number; after: string | null } {
  const limit = page.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_WEBHOOK_PAGE) throw invalid(`limit must be 1..${MAX_WEBHOOK_PAGE}`);
  const after = page.after ?? null;
  if (after !== null && (typeof after !== "string" || after.length > MAX_WEBHOOK_DID_CHARS)) throw invalid("bad cursor");
  return { limit, after };
}

/** For webhookPreparer: `webhookPreparer(secretLookup(store))`. */
export function secretLookup(store: WebhookStore): (recipientDid: string) => Promise<string | null> {
  return async (did) => (await store.resolveSecret(did))?.reveal() ?? null;
}

function invalid(msg: string): DeliveryError {
  return new DeliveryError(DeliveryErrorCode.Invalid, msg);
}
