// GET /metrics, GET /cluster/metrics (text or ?format=json) and the /dashboard files, as extra routes of the HTTP app.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { aggregate, aggregateSnapshots } from "../observability/metrics-aggregate.ts";
import type { MetricsSnapshot } from "../observability/metrics-snapshot.ts";
import type { Metrics } from "../observability/metrics.ts";
import { requestIdOf } from "./request-id.ts";
import { REQUEST_ID_HEADER, errorResponse, jsonResponse, TransportErrorCode as E } from "./responses.ts";

/** A GET route added to the HTTP app (see HttpAppDeps.routes). */
export interface ExtraRoute {
  readonly path: string;
  handle(request: Request): Response | Promise<Response>;
}

/** One node as seen by a gathering (the node layer maps its RPC results to this). */
export interface GatheredNode {
  nodeId: string;
  ok: boolean;
  /** Why it did not answer (short, no secrets). */
  error?: string;
  snapshot?: MetricsSnapshot;
  owned?: readonly { partition: number; epoch: number; serving: boolean }[];
}

export interface MetricsRoutesDeps {
  metrics: Metrics;
  /** Every node's report for /cluster/metrics; a single node returns just its own. Should not throw. */
  gather: () => Promise<GatheredNode[]>;
}

const DASHBOARD_DIR = join(import.meta.dir, "dashboard");
const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  "/dashboard": "index.html",
  "/dashboard/app.js": "app.js",
  "/dashboard/style.css": "style.css",
};
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};
/** Only our own script and style, fetches to this origin only: injected markup could not run or leak anything. */
const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Per-node figures the dashboard shows in its node table (sums over each family's series). */
function summary(s: MetricsSnapshot | undefined): Record<string, number> {
  const sumOf = (name: string, metricName = name): number => {
    const f = s?.families.find((x) => x.name === name);
    return f === undefined ? 0 : f.values.filter((v) => (v.metricName ?? f.name) === metricName).reduce((a, v) => a + (Number.isFinite(v.value) ? v.value : 0), 0);
  };
  return {
    forwardsAccepted: sumOf("haven_forwards_accepted_total"),
    forwardsRejected: sumOf("haven_forwards_rejected_total"),
    requests: sumOf("haven_request_duration_seconds", "haven_request_duration_seconds_count"),
    websockets: sumOf("haven_websocket_connections"),
    outbox: sumOf("haven_outbox_messages"),
    dlq: sumOf("haven_dlq_events"),
    ready: sumOf("haven_ready"),
  };
}

export function metricsRoutes(deps: MetricsRoutesDeps): ExtraRoute[] {
  const files = new Map<string, string>();
  const file = (name: string): string => {
    let body = files.get(name);
    if (body === undefined) {
      body = readFileSync(join(DASHBOARD_DIR, name), "utf8");
      files.set(name, body);
    }
    return body;
  };

  const metricsText = async (request: Request): Promise<Response> =>
    new Response(await deps.metrics.render(), { headers: { "content-type": deps.metrics.contentType, "cache-control": "no-store", [REQUEST_ID_HEADER]: requestIdOf(request) } });

  const clusterMetrics = async (request: Request): Promise<Response> => {
    const requestId = requestIdOf(request);
    const format = new URL(request.url).searchParams.get("format");
    if (format !== null && format !== "json" && format !== "text") return errorResponse(400, E.BadRequest, "format must be text or json", requestId);
    const nodes = await deps.gather();
    const snapshots = nodes.flatMap((n) => (n.ok && n.snapshot !== undefined ? [n.snapshot] : []));
    if (format !== "json") {
      return new Response(aggregate(snapshots), { headers: { "content-type": deps.metrics.contentType, "cache-control": "no-store", [REQUEST_ID_HEADER]: requestId } });
    }
    const total = aggregateSnapshots(snapshots);
    return jsonResponse(
      200,
      {
        generatedAtMs: Date.now(),
        nodes: nodes.map((n) => ({ nodeId: n.nodeId, ok: n.ok, error: n.error, owned: n.owned ?? [], ...summary(n.snapshot) })),
        // Haven's own families only: the process_* / nodejs_* ones are for Prometheus, not this page.
        aggregate: { version: 1, families: total.families.filter((f) => f.name.startsWith("haven_")) },
      },
      requestId,
    );
  };

  const dashboardFile = (path: string) => (request: Request): Response => {
    const name = DASHBOARD_FILES[path]!;
    const ext = name.slice(name.lastIndexOf(".") + 1);
    return new Response(file(name), {
      headers: {
        "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
        "content-security-policy": DASHBOARD_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
        [REQUEST_ID_HEADER]: requestIdOf(request),
      },
    });
  };

  return [
    { path: "/metrics", handle: metricsText },
    { path: "/cluster/metrics", handle: clusterMetrics },
    ...Object.keys(DASHBOARD_FILES).map((path) => ({ path, handle: dashboardFile(path) })),
  ];
}
