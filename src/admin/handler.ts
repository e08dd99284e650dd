// The admin API as a framework-agnostic handler: (Request) -> Response for /admin/*, undefined for other paths; bearer token required.
import type { Secret } from "../config/secret.ts";
import { DeliveryError } from "../delivery/errors.ts";
import type { BreakerResetResult } from "../delivery/breaker.ts";
import type { DlqStore, EventQueue } from "../delivery/event-queue.ts";
import type { WebhookStore } from "../delivery/webhook-store.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { checkBearer } from "./auth.ts";
import { BadRequest, json, problem } from "./http.ts";
import { breakerStatus, deleteWebhook, deliveryErrorResponse, getWebhooks, listDlq, putWebhook, replayDlq, resetBreaker, type BreakerStatusSource } from "./routes.ts";

export interface AdminHandlerOptions {
  /** ADMIN_TOKEN. null = the admin API does not exist (404 for every /admin path). */
  token: Secret | null;
  webhooks: WebhookStore;
  dlq: DlqStore;
  /** Pending-event count for GET /admin/dlq (`queue_size`); optional. */
  queue?: EventQueue | null;
  breaker?: BreakerStatusSource | null;
  /** After POST /admin/breakers/reset closed a breaker: log and count it (the breaker reports the transition itself). */
  onBreakerReset?: ((r: BreakerResetResult) => void) | null;
  clock?: Clock;
  /** POST /admin/drain: starts the node's graceful stop (the SIGTERM path). Absent: 404. */
  onDrain?: (() => void) | null;
  /** Extra node-level figures shown by GET /admin/queue as `node` (counters; no secrets). */
  stats?: (() => unknown) | null;
  /** Logged on 5xx (never request bodies or tokens). */
  log?: { warn(obj: object, msg: string): void } | null;
}

export type AdminHandler = (req: Request) => Promise<Response | undefined>;

const PREFIX = "/admin";

/**
 * Routes: PUT/GET/DELETE /admin/webhooks, GET /admin/dlq, POST /admin/dlq/replay, GET /admin/breakers, POST /admin/breakers/reset,
 * GET /admin/queue, POST /admin/drain. Auth: 401 without a bearer token, 403 with a wrong one; both before any routing, so
 * unauthenticated callers learn nothing about which paths exist.
 */
export function createAdminHandler(o: AdminHandlerOptions): AdminHandler {
  const clock = o.clock ?? systemClock;
  return async (req) => {
    const url = new URL(req.url);
    if (url.pathname !== PREFIX && !url.pathname.startsWith(`${PREFIX}/`)) return undefined;
    if (o.token === null) return problem(404, "not_found", "not found");
    const auth = checkBearer(req.headers.get("authorization"), o.token);
    if (auth === "missing") return problem(401, "unauthorized", "bearer token required", { "WWW-Authenticate": 'Bearer realm="haven-admin"' });
    if (auth === "invalid") return problem(403, "forbidden", "invalid token");
    try {
      return await route(req, url);
    } catch (e) {
      if (e instanceof BadRequest) return problem(e.status, e.code, e.message);
      if (e instanceof DeliveryError) {
        const res = deliveryErrorResponse(e);
        if (res.status >= 500) o.log?.warn({ path: url.pathname, code: e.code }, "admin: store unavailable");
        return res;
      }
      o.log?.warn({ path: url.pathname, err: e instanceof Error ? e.name : typeof e }, "admin: internal error");
      return problem(500, "internal", "internal error");
    }
  };

  async function route(req: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/\/+$/, "");
    const m = req.method;
    switch (path) {
      case "/admin/webhooks":
        if (m === "PUT") return putWebhook(req, o.webhooks);
        if (m === "GET") return getWebhooks(url, o.webhooks);
        if (m === "DELETE") return deleteWebhook(req, url, o.webhooks);
        return notAllowed("GET, PUT, DELETE");
      case "/admin/dlq":
        return m === "GET" ? listDlq(url, o.dlq) : notAllowed("GET");
      case "/admin/dlq/replay":
        return m === "POST" ? replayDlq(req, o.dlq, clock) : notAllowed("POST");
      case "/admin/breakers":
        if (m !== "GET") return notAllowed("GET");
        if (o.breaker == null) return problem(404, "not_found", "no breaker on this node");
        return breakerStatus(url, o.breaker);
      case "/admin/breakers/reset":
        if (m !== "POST") return notAllowed("POST");
        if (o.breaker == null) return problem(404, "not_found", "no breaker on this node");
        return resetBreaker(req, o.breaker, o.onBreakerReset ?? null);
      case "/admin/queue":
        if (m !== "GET") return notAllowed("GET");
        return json(200, { pending: o.queue == null ? null : await o.queue.size(), dead_lettered: await o.dlq.count(), ...(o.stats != null ? { node: o.stats() } : {}) });
      case "/admin/drain":
        if (m !== "POST") return notAllowed("POST");
        if (o.onDrain == null) return problem(404, "not_found", "drain is not available on this node");
        // Answer first: the drain closes the listener once in-flight requests (this one included) finished.
        setTimeout(o.onDrain, 0);
        return json(202, { draining: true });
      default:
        return problem(404, "not_found", "no such admin endpoint");
    }
  }
}

function notAllowed(allow: string): Response {
  return problem(405, "method_not_allowed", `allowed: ${allow}`, { Allow: allow });
}
