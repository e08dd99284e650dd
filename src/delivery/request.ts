// Building the HTTP request for an event: plain POST with Idempotency-Key, or a signed webhook with the secret looked up at send time.
import type { DeliveryEvent } from "./event-queue.ts";
import { IDEMPOTENCY_HEADER, webhookHeaders } from "./signing.ts";

export interface PreparedRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/** Returns the request to send, or null when there is nothing to send any more (the event is then completed as "cancelled"). */
export type RequestPreparer = (event: DeliveryEvent, nowMs: number) => Promise<PreparedRequest | null>;

/** POST the stored body with its content type and the event id as Idempotency-Key. */
export const plainPreparer: RequestPreparer = async (e) => ({
  url: e.url,
  headers: { "Content-Type": e.contentType, [IDEMPOTENCY_HEADER]: e.id },
  body: e.body,
});

/**
 * Webhooks are signed with the secret of `event.signingRef` (the recipient DID) as registered now; a
 * webhook deleted since the event was queued yields null (cancelled). Other kinds go out plain.
 */
export function webhookPreparer(lookupSecret: (signingRef: string) => Promise<string | Uint8Array | null>): RequestPreparer {
  return async (e, nowMs) => {
    if (e.kind !== "webhook") return plainPreparer(e, nowMs);
    if (e.signingRef === null) return null;
    const secret = await lookupSecret(e.signingRef);
    if (secret === null) return null;
    return { url: e.url, headers: webhookHeaders({ eventId: e.id, secret, body: e.body, nowMs }), body: e.body };
  };
}
