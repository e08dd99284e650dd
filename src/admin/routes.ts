// Admin route implementations: webhooks (put/get/list/delete), DLQ (list/replay) and breaker status, as JSON views without secrets or bodies.
import type { BreakerResetResult } from "../delivery/breaker.ts";
import type { BreakerMode, BreakerSnapshot } from "../delivery/breaker-types.ts";
import { destinationOf } from "../delivery/destination.ts";
import { DeliveryError, DeliveryErrorCode } from "../delivery/errors.ts";
import type { DeadLetter, DlqStore } from "../delivery/event-queue.ts";
import type { WebhookStore, WebhookView } from "../delivery/webhook-store.ts";
import type { Clock } from "../runtime/clock.ts";
import { BadRequest, intParam, json, problem, readJsonObject } from "./http.ts";

/** What the breaker status route reads; DistributedBreaker implements it. */
export interface BreakerStatusSource {
  readonly mode: BreakerMode;
  snapshot(destination: string): Promise<BreakerSnapshot>;
  knownDestinations(): string[];
  /** Force-closes a destination's breaker (cluster-wide CAS on the shared record; this node's fallback while the store is down). */
  reset?(destination: string): Promise<BreakerResetResult>;
}

const MAX_REPLAY_IDS = 10_000;
const MAX_BREAKERS_LISTED = 1000;

export function webhookJson(v: WebhookView): Record<string, unknown> {
  return { recipient_did: v.recipientDid, url: v.url, created_at: iso(v.createdAtMs), updated_at: iso(v.updatedAtMs) };
}

/** Bodies are left out: a push or reply body is message content. */
export function deadLetterJson(d: DeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    kind: d.kind,
    mailbox: d.mailbox,
    partition: d.partition,
    destination: d.destination,
    attempts: d.attempts,
    reason: d.reason,
    last_error: d.lastError,
    body_bytes: d.body.length,
    created_at: iso(d.createdAtMs),
    dead_at: iso(d.deadAtMs),
  };
}

export async function putWebhook(req: Request, webhooks: WebhookStore): Promise<Response> {
  const b = await readJsonObject(req);
  for (const f of ["recipient_did", "url", "secret"] as const) {
    if (typeof b[f] !== "string") throw new BadRequest("invalid_field", `${f} is required and must be a string`);
  }
  const view = await webhooks.put({ recipientDid: b.recipient_did as string, url: b.url as string, secret: b.secret as string });
  return json(200, webhookJson(view));
}

export async function getWebhooks(url: URL, webhooks: WebhookStore): Promise<Response> {
  const did = url.searchParams.get("recipient_did");
  if (did !== null) {
    const v = await webhooks.get(did);
    return v === null ? problem(404, "not_found", "no webhook for this recipient_did") : json(200, webhookJson(v));
  }
  const page = await webhooks.list({ limit: intParam(url, "limit", 100, 1, 1000), after: url.searchParams.get("after") });
  return json(200, { items: page.items.map(webhookJson), next: page.next });
}

export async function deleteWebhook(req: Request, url: URL, webhooks: WebhookStore): Promise<Response> {
  let did = url.searchParams.get("recipient_did");
  if (did === null && req.headers.get("content-type") !== null) {
    const b = await readJsonObject(req);
    did = typeof b.recipient_did === "string" ? b.recipient_did : null;
  }
  if (did === null) throw new BadRequest("invalid_field", "recipient_did is required (query or JSON body)");
  return (await webhooks.delete(did)) ? new Response(null, { status: 204 }) : problem(404, "not_found", "no webhook for this recipient_did");
}

export async function listDlq(url: URL, dlq: DlqStore): Promise<Response> {
  const page = await dlq.list({ limit: intParam(url, "limit", 100, 1, 1000), after: url.searchParams.get("after") });
  return json(200, { items: page.items.map(deadLetterJson), next: page.next, total: await dlq.count() });
}

export async function replayDlq(req: Request, dlq: DlqStore, clock: Clock): Promise<Response> {
  const b = await readJsonObject(req);
  let selection: "all" | string[];
  if (b.all === true && b.ids === undefined) selection = "all";
  else if (b.all === undefined && Array.isArray(b.ids)) {
    if (b.ids.length === 0 || b.ids.length > MAX_REPLAY_IDS) throw new BadRequest("invalid_field", `ids must hold 1..${MAX_REPLAY_IDS} entries`);
    if (!b.ids.every((x) => typeof x === "string" && x.length > 0 && x.length <= 256)) throw new BadRequest("invalid_field", "ids must be strings of 1..256 characters");
    selection = b.ids as string[];
  } else throw new BadRequest("invalid_field", 'body must be {"all": true} or {"ids": [...]}');
  const replayed = await dlq.replay(selection, clock.nowMs());
  return json(200, { replayed });
}

export async function breakerStatus(url: URL, breaker: BreakerStatusSource): Promise<Response> {
  const one = url.searchParams.get("destination");
  let destinations: string[];
  if (one !== null) {
    // Accept a full URL or a destination ("https://host:443"): both normalise the same way.
    destinations = [destinationOf(one)];
  } else destinations = breaker.knownDestinations().slice(0, MAX_BREAKERS_LISTED);
  const items = await Promise.all(destinations.map((d) => breaker.snapshot(d)));
  return json(200, {
    mode: breaker.mode,
    items: items.map((s) => ({
      destination: s.destination,
      store: s.store,
      phase: s.phase,
      failures: s.failures,
      in_flight: s.inFlight,
      probe_held: s.probeHeld,
      opened_at: s.openedAtMs === null ? null : iso(s.openedAtMs),
    })),
  });
}

/**
 * POST /admin/breakers/reset {"destination": "<url or scheme://host:port>"}: force-closes that breaker. Answers which
 * record was closed ("shared": every node sees it; "local": the shared store is down, this node's fallback only).
 */
export async function resetBreaker(req: Request, breaker: BreakerStatusSource, onReset: ((r: BreakerResetResult) => void) | null): Promise<Response> {
  if (breaker.reset === undefined) throw new BadRequest("not_found", "this breaker cannot be reset", 404);
  const b = await readJsonObject(req);
  if (typeof b.destination !== "string" || b.destination.length === 0 || b.destination.length > 2048) throw new BadRequest("invalid_field", "destination is required (a URL or scheme://host:port)");
  const r = await breaker.reset(destinationOf(b.destination));
  onReset?.(r);
  return json(200, { destination: r.destination, store: r.store, previous_phase: r.from, previous_failures: r.failures, phase: "closed" });
}

/** Delivery errors as HTTP: invalid input 400 with its reason, missing 404, store trouble 503. */
export function deliveryErrorResponse(e: DeliveryError): Response {
  if (e.code === DeliveryErrorCode.Invalid) return problem(400, "invalid", e.message);
  if (e.code === DeliveryErrorCode.NotFound) return problem(404, "not_found", e.message);
  return problem(503, "unavailable", "a required store is unavailable; retry later", { "Retry-After": "1" });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
