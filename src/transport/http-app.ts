// The HTTP/WebSocket front door (Elysia on Bun.serve): POST / and /ws feed the core; invitation, page, health.
import { randomUUID } from "node:crypto";
import { Elysia } from "elysia";
import type { Server } from "bun";
import type { Config } from "../config/types.ts";
import type { Logger } from "../observability/logger.ts";
import { sleep, systemClock, type Clock } from "../runtime/clock.ts";
import { readBoundedBody } from "./body.ts";
import { checkContentType } from "./content-type.ts";
import { DeadlineQueue } from "./deadlines.ts";
import type { MessageReceiver, ReceiveOutcome } from "./contract.ts";
import type { Health } from "./health.ts";
import { InFlight } from "./inflight.ts";
import type { ExtraRoute } from "./metrics-routes.ts";
import { runInRequestContext } from "./request-context.ts";
import type { InvitationInfo } from "./invitation.ts";
import { qrSvg, renderHomePage } from "./page.ts";
import { KeyedLimiter } from "./rate-limit.ts";
import { requestIdOf } from "./request-id.ts";
import { didcommResponse, emptyResponse, errorResponse, jsonResponse, REQUEST_ID_HEADER, TransportErrorCode as E } from "./responses.ts";
import { WS_CLOSE, WsConnection } from "./ws-session.ts";

export interface HttpAppOptions {
  /** Deadline for receiving a whole request body. Default 30_000 ms, bounds 100..600_000. */
  bodyTimeoutMs?: number;
  /** Bun's idle timeout for HTTP connections (slow clients). Default 30 s, bounds 1..255. */
  idleTimeoutSeconds?: number;
  /** Concurrent WebSocket connections. Default 10_000, bounds 1..1_000_000. */
  maxWsConnections?: number;
  /** Frames queued per socket behind the one being processed. Default 64, bounds 1..10_000. */
  maxQueuedFramesPerSocket?: number;
  /** Rate-limit buckets kept (one per HTTP connection). Default 50_000. */
  maxRateLimitKeys?: number;
}

/** What the app serves once the node knows its DID (which can depend on the port it was given). */
export interface AppTarget {
  core: MessageReceiver;
  invitation: InvitationInfo;
}

export interface HttpAppDeps {
  /** When absent, call `attach` later; until then POST/WS/invitation answer 503 and readiness fails. */
  core?: MessageReceiver;
  invitation?: InvitationInfo;
  health: Health;
  config: Pick<Config, "server" | "limits">;
  logger: Logger;
  clock?: Clock;
  options?: HttpAppOptions;
  /** GET /cluster/status: the node's cluster view as JSON (no secrets); undefined (404) when not in cluster mode. */
  clusterStatus?: () => unknown;
  /** /admin and /admin/* (any method): the admin API, read per request (it starts after listen); null/undefined = 404. */
  admin?: () => ((req: Request) => Promise<Response | undefined>) | null | undefined;
  /** Further GET routes (metrics, dashboard); each runs in its request's trace context. */
  routes?: readonly ExtraRoute[];
}

export interface HttpApp {
  /** Binds Bun.serve; `port: 0` picks a free port (read it from the result). */
  listen(opts: { hostname: string; port: number }): { port: number };
  /** Supplies the core and invitation (once; only if not given to createHttpApp). */
  attach(target: AppTarget): void;
  /**
   * First step of a graceful stop: readiness fails from now on and every HTTP response closes its connection, so load
   * balancers stop choosing this node and pooled client connections are retired cleanly (after a response, never
   * while idle under a client's feet); requests are still served. Idempotent; close() implies it.
   */
  beginDrain(): void;
  /** Stops accepting, waits for in-flight work (bounded), closes sockets. `drained` false when the wait timed out. */
  close(opts?: { drainTimeoutMs?: number }): Promise<{ drained: boolean }>;
  /** Handles one request without a socket (no rate limit, no WebSocket): for tests. */
  handle(request: Request): Promise<Response>;
  readonly wsConnections: number;
  readonly inFlight: number;
}

function bounded(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

const retryAfter = (waitMs: number): Record<string, string> => ({ "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) });

export function createHttpApp(deps: HttpAppDeps): HttpApp {
  const { health, config, logger: rootLogger } = deps;
  let target: AppTarget | undefined = deps.core && deps.invitation ? { core: deps.core, invitation: deps.invitation } : undefined;
  if ((deps.core === undefined) !== (deps.invitation === undefined)) throw new Error("invariant: give both core and invitation, or neither");
  const log = rootLogger.child({ module: "transport" });
  const clock = deps.clock ?? systemClock;
  const o = deps.options ?? {};
  const bodyTimeoutMs = bounded("bodyTimeoutMs", o.bodyTimeoutMs, 30_000, 100, 600_000);
  const idleTimeoutSeconds = bounded("idleTimeoutSeconds", o.idleTimeoutSeconds, 30, 1, 255);
  const maxWsConnections = bounded("maxWsConnections", o.maxWsConnections, 10_000, 1, 1_000_000);
  const maxQueuedFrames = bounded("maxQueuedFramesPerSocket", o.maxQueuedFramesPerSocket, 64, 1, 10_000);
  const maxMessageBytes = config.limits.maxMessageBytes;
  const limiter = new KeyedLimiter({ ratePerSecond: config.server.rateLimitPerConnection, maxKeys: o.maxRateLimitKeys ?? 50_000, clock });
  const inFlight = new InFlight();
  /** Body deadlines of every POST / share one timer. */
  const bodyDeadlines = new DeadlineQueue(clock, bodyTimeoutMs);
  const sockets = new Set<WsConnection>();
  let stopping = false;
  /** Set by beginDrain (and close): readiness fails and responses carry `connection: close`. */
  let draining = false;
  let closing: Promise<{ drained: boolean }> | undefined;
  let server: Server<unknown> | undefined;
  let page: Promise<string> | undefined;
  const starting = (requestId: string): Response =>
    errorResponse(503, E.Unavailable, "the node is starting; retry later", requestId, retryAfter(1000));

  const debugEnabled = (): boolean => log.isLevelEnabled("debug");

  /** Per-connection key: the client's address and port identify one TCP connection. */
  function rateLimited(request: Request, srv: Server<unknown> | null | undefined): number {
    const ip = srv?.requestIP(request);
    return limiter.take(ip ? `${ip.address}:${ip.port}` : "unknown");
  }

  function outcomeResponse(outcome: ReceiveOutcome, requestId: string): Response {
    const [first, ...rest] = outcome.replies;
    if (rest.length > 0) log.warn({ requestId, replies: outcome.replies.length }, "more than one return-route reply; only the first fits an HTTP response");
    if (outcome.kind === "accepted") return first === undefined ? emptyResponse(202, requestId) : didcommResponse(200, first, requestId);
    const status = outcome.httpStatus;
    const extra = status === 429 || status === 503 ? retryAfter(1000) : undefined;
    if (debugEnabled()) log.debug({ requestId, status, code: outcome.code }, "message rejected");
    // A problem report addressed to the sender says more than our JSON: send it when the core made one.
    return first === undefined ? errorResponse(status, outcome.code, outcome.reason, requestId, extra) : didcommResponse(status, first, requestId, extra);
  }

  async function postMessage(request: Request, srv: Server<unknown> | null | undefined): Promise<Response> {
    const requestId = requestIdOf(request);
    if (stopping) return errorResponse(503, E.ShuttingDown, "the node is shutting down", requestId, { connection: "close", ...retryAfter(1000) });
    const waitMs = rateLimited(request, srv);
    if (waitMs > 0) return errorResponse(429, E.RateLimited, "too many requests on this connection", requestId, retryAfter(waitMs));
    const ct = checkContentType(request.headers.get("content-type"));
    if (!ct.ok) return errorResponse(415, E.UnsupportedMediaType, ct.reason, requestId);
    const core = target?.core;
    if (core === undefined) return starting(requestId);
    inFlight.enter();
    try {
      const receivedAtMs = clock.nowMs();
      const body = await readBoundedBody(request, { maxBytes: maxMessageBytes, timeoutMs: bodyTimeoutMs, clock, deadlines: bodyDeadlines });
      if (!body.ok) {
        const code = body.status === 413 ? E.PayloadTooLarge : body.status === 408 ? E.RequestTimeout : E.BadRequest;
        return errorResponse(body.status, code, body.reason, requestId, body.status === 400 ? undefined : { connection: "close" });
      }
      let outcome: ReceiveOutcome;
      try {
        outcome = await core.receive(body.bytes, { kind: "http", receivedAtMs, requestId });
      } catch (err) {
        log.error({ requestId, err: err instanceof Error ? err.name : "unknown" }, "core.receive threw");
        return errorResponse(503, E.Unavailable, "temporarily unavailable; retry later", requestId, retryAfter(1000));
      }
      const res = outcomeResponse(outcome, requestId);
      if (debugEnabled()) log.debug({ requestId, status: res.status, bytes: body.bytes.byteLength }, "POST / handled");
      return res;
    } finally {
      inFlight.leave();
    }
  }

  function upgrade(request: Request, srv: Server<unknown> | null | undefined): Response | undefined {
    const requestId = requestIdOf(request);
    if (stopping) return errorResponse(503, E.ShuttingDown, "the node is shutting down", requestId);
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !srv) {
      return errorResponse(426, E.UpgradeRequired, "GET /ws needs a WebSocket upgrade", requestId, { upgrade: "websocket" });
    }
    const waitMs = rateLimited(request, srv);
    if (waitMs > 0) return errorResponse(429, E.RateLimited, "too many requests on this connection", requestId, retryAfter(waitMs));
    const core = target?.core;
    if (core === undefined) return starting(requestId);
    if (sockets.size >= maxWsConnections) return errorResponse(503, E.TooManyConnections, "too many WebSocket connections", requestId, retryAfter(1000));
    const conn = new WsConnection({
      id: randomUUID(),
      core,
      clock,
      logger: log,
      inFlight,
      bucket: limiter.newBucket(),
      maxQueuedFrames,
      isStopping: () => stopping,
      onClosed: (c) => sockets.delete(c),
    });
    if (!srv.upgrade(request, { data: conn.handlers(), headers: { [REQUEST_ID_HEADER]: requestId } })) {
      return errorResponse(400, E.BadRequest, "WebSocket upgrade failed", requestId);
    }
    sockets.add(conn);
    if (debugEnabled()) log.debug({ requestId, session: conn.id }, "websocket opened");
    return undefined;
  }

  async function ready(request: Request): Promise<Response> {
    const requestId = requestIdOf(request);
    const report = await health.ready();
    if (target === undefined) {
      report.status = "fail";
      report.checks.push({ name: "startup", status: "fail", detail: "the node is starting" });
    }
    if (stopping || draining) {
      report.status = "fail";
      report.checks.push({ name: "shutdown", status: "fail", detail: stopping ? "the node is shutting down" : "the node is draining" });
    }
    if (report.status !== "pass") log.warn({ requestId, failed: report.checks.filter((c) => c.status !== "pass").map((c) => c.name) }, "readiness check failed");
    return jsonResponse(report.status === "pass" ? 200 : 503, report, requestId);
  }

  function invitationRoute(request: Request, format: unknown): Response {
    const requestId = requestIdOf(request);
    const invitation = target?.invitation;
    if (invitation === undefined) return starting(requestId);
    if (format === undefined || format === "json") return jsonResponse(200, invitation.invitation, requestId);
    if (format === "url") {
      return new Response(invitation.url, { headers: { "content-type": "text/plain; charset=utf-8", [REQUEST_ID_HEADER]: requestId } });
    }
    return errorResponse(400, E.BadRequest, "format must be json or url", requestId);
  }

  async function homePage(request: Request): Promise<Response> {
    const requestId = requestIdOf(request);
    const invitation = target?.invitation;
    if (invitation === undefined) return starting(requestId);
    page ??= qrSvg(invitation.url).then((svg) => renderHomePage({ did: invitation.invitation.from, invitationUrl: invitation.url, qrSvg: svg }));
    return new Response(await page, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:",
        "x-content-type-options": "nosniff",
        [REQUEST_ID_HEADER]: requestId,
      },
    });
  }

  /** While draining, a response ends its keep-alive connection: the client's next request opens a new one (elsewhere). */
  function closingIfDraining(res: Response): Response {
    if (draining) res.headers.set("connection", "close");
    return res;
  }

  /**
   * POST / (the forward ingest path). Served by Bun's router directly (see `serve.routes` below), skipping Elysia's
   * per-request context and hooks; app.handle() reaches the same function through the Elysia route. Never throws:
   * an unexpected error is the same 503 Elysia's onError gives.
   */
  async function handlePost(request: Request, srv: Server<unknown> | null | undefined): Promise<Response> {
    try {
      return await runInRequestContext(request, async () => closingIfDraining(await postMessage(request, srv)));
    } catch (err) {
      const requestId = requestIdOf(request);
      log.error({ requestId, err: err instanceof Error ? err.name : "unknown" }, "unhandled error in POST /");
      return errorResponse(503, E.Unavailable, "temporarily unavailable; retry later", requestId, retryAfter(1000));
    }
  }

  const app = new Elysia({
    serve: {
      // Bun's own cap is a backstop a little above ours, so our bounded reader answers with a JSON 413 first.
      maxRequestBodySize: maxMessageBytes + 64 * 1024,
      idleTimeout: idleTimeoutSeconds,
      development: false,
      reusePort: false,
      // Merged over Elysia's own route table per method: GET / stays Elysia's, POST / is ours.
      routes: { "/": { POST: (request: Request, srv: Server<unknown>) => handlePost(request, srv) } },
    },
    websocket: {
      idleTimeout: config.server.wsIdleTimeoutSeconds,
      maxPayloadLength: maxMessageBytes,
      // A client that stops reading is cut off rather than buffered without bound.
      backpressureLimit: Math.max(maxMessageBytes * 4, 1024 * 1024),
      closeOnBackpressureLimit: true,
      sendPings: true,
    },
  })
    .onError(({ code, request }) => {
      const requestId = requestIdOf(request);
      if (code === "NOT_FOUND") return errorResponse(404, E.NotFound, "no such route", requestId);
      if (code === "PARSE" || code === "VALIDATION" || code === "INVALID_COOKIE_SIGNATURE") return errorResponse(400, E.BadRequest, "bad request", requestId);
      log.error({ requestId, code }, "unhandled error in the HTTP app");
      return errorResponse(503, E.Unavailable, "temporarily unavailable; retry later", requestId, retryAfter(1000));
    })
    .post("/", ({ request, server: srv }) => handlePost(request, srv), { parse: "none" })
    .get("/", async ({ request }) => closingIfDraining(await homePage(request)))
    .get("/ws", ({ request, server: srv }) => upgrade(request, srv))
    .get("/invitation", ({ request, query }) => closingIfDraining(invitationRoute(request, query.format)))
    .get("/health/live", ({ request }) => closingIfDraining(jsonResponse(200, { status: "pass" }, requestIdOf(request))))
    .get("/health/ready", async ({ request }) => closingIfDraining(await ready(request)))
    .get("/cluster/status", ({ request }) => {
      const requestId = requestIdOf(request);
      const status = deps.clusterStatus?.();
      if (status === undefined) return errorResponse(404, E.NotFound, "not running in cluster mode", requestId);
      return closingIfDraining(jsonResponse(200, status, requestId));
    });

  const adminRoute = async (request: Request): Promise<Response> => {
    const res = await deps.admin?.()?.(request);
    return closingIfDraining(res ?? errorResponse(404, E.NotFound, "no such route", requestIdOf(request)));
  };
  app.all("/admin", ({ request }) => adminRoute(request), { parse: "none" }).all("/admin/*", ({ request }) => adminRoute(request), { parse: "none" });
  for (const r of deps.routes ?? []) app.get(r.path, ({ request }) => runInRequestContext(request, async () => closingIfDraining(await r.handle(request))));

  return {
    attach(t) {
      if (target !== undefined) throw new Error("invariant: HttpApp already has a core");
      target = t;
    },
    listen(opts) {
      if (server !== undefined) throw new Error("invariant: HttpApp.listen called twice");
      app.listen({ hostname: opts.hostname, port: opts.port });
      server = app.server ?? undefined;
      if (server?.port === undefined) throw new Error("invariant: Bun.serve did not report a port");
      return { port: server.port };
    },
    beginDrain() {
      draining = true;
    },
    close(opts = {}) {
      closing ??= (async () => {
        draining = true;
        stopping = true;
        const srv = server;
        const timeoutMs = opts.drainTimeoutMs ?? 10_000;
        const deadlineMs = clock.monotonicMs() + timeoutMs;
        // Stop listening first; in-flight requests and open sockets carry on until drained.
        void srv?.stop(false);
        let drained = await inFlight.drain(timeoutMs, clock);
        // Our count drops when the handler returns; Bun still has to write the response.
        while (drained && srv !== undefined && srv.pendingRequests > 0) {
          if (clock.monotonicMs() >= deadlineMs) drained = false;
          else await sleep(clock, 5);
        }
        for (const conn of [...sockets]) conn.close(WS_CLOSE.GoingAway, "server shutting down");
        await srv?.stop(true);
        bodyDeadlines.clear();
        server = undefined;
        return { drained };
      })();
      return closing;
    },
    handle: (request) => app.handle(request),
    get wsConnections() {
      return sockets.size;
    },
    get inFlight() {
      return inFlight.count;
    },
  };
}
