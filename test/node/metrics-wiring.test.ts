// A real single node (createNode): /metrics counts forwards and requests, /cluster/metrics equals its own totals,
// readiness gauges, the dashboard files with their CSP, and request/trace ids on every log line of a request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { enrol, sendVia } from "../e2e/helpers.ts";
import { parseExposition } from "../observability/metrics-text.ts";

let node: HavenNode;
let dir: string;
const lines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "haven-metrics-"));
  const base = loadConfig({ DATA_DIR: dir, HOST: "127.0.0.1", LOG_LEVEL: "debug" });
  const config: Config = { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
  const logger = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(s) } });
  node = await createNode(config, { logger });
}, 30_000);

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function scrape(path: string): Promise<Map<string, number>> {
  const res = await fetch(`${node.url}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parseExposition(await res.text()).series;
}

/** haven_* series only: process_* and nodejs_* move between two scrapes. */
const havenOnly = (m: Map<string, number>) => new Map([...m].filter(([k]) => k.startsWith("haven_") && !k.startsWith("haven_cluster_nodes_reporting")));

describe("metrics wiring (single node)", () => {
  test("forwards accepted and rejected, request latency per protocol, readiness and disk gauges", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    for (const text of ["a", "b", "c"]) expect((await sendVia(node, sender, r.inbox.did, text)).reply.status).toBe(202);
    const bad = await fetch(node.url, { method: "POST", headers: { "content-type": ENCRYPTED }, body: "{not json" });
    expect(bad.status).toBe(400);
    expect((await fetch(`${node.url}/health/ready`)).status).toBe(200);

    const m = await scrape("/metrics");
    expect(m.get("haven_forwards_accepted_total{}")).toBe(3);
    expect(m.get('haven_forwards_rejected_total{reason="malformed"}')).toBe(1);
    expect(m.get('haven_request_duration_seconds_count{protocol="routing"}')).toBe(3);
    // enrol: mediate-request + keylist-update, both coordinate-mediation.
    expect(m.get('haven_request_duration_seconds_count{protocol="coordinate_mediation"}')).toBeGreaterThanOrEqual(2);
    expect(m.get('haven_stage_duration_seconds_count{stage="unpack"}')).toBeGreaterThanOrEqual(5);
    expect(m.get("haven_ready{}")).toBe(1);
    expect(m.get('haven_health_check_ok{check="storage"}')).toBe(1);
    expect(m.get('haven_health_check_ok{check="disk"}')).toBe(1);
    expect(m.get("haven_disk_free_bytes{}")).toBeGreaterThan(0);
    expect(m.get("haven_actors_live{}")).toBeGreaterThanOrEqual(1);
    expect(m.get('haven_node_info{mode="single",node_id="local",version="0.1.0"}')).toBe(1);
  });

  test("single node: /cluster/metrics reports its own totals", async () => {
    const own = havenOnly(await scrape("/metrics"));
    const cluster = await scrape("/cluster/metrics");
    expect(cluster.get("haven_cluster_nodes_reporting{}")).toBe(1);
    const total = havenOnly(cluster);
    for (const [k, v] of own) if (!k.startsWith("haven_disk_")) expect([k, total.get(k)]).toEqual([k, v]);
    const json = (await (await fetch(`${node.url}/cluster/metrics?format=json`)).json()) as { nodes: { nodeId: string; ok: boolean; forwardsAccepted: number }[] };
    expect(json.nodes).toEqual([expect.objectContaining({ nodeId: "local", ok: true, forwardsAccepted: 3 })]);
    expect((await fetch(`${node.url}/cluster/metrics?format=xml`)).status).toBe(400);
  });

  test("dashboard files are served with a CSP that allows only same-origin script, style and fetches", async () => {
    for (const [path, type] of [["/dashboard", "text/html"], ["/dashboard/app.js", "text/javascript"], ["/dashboard/style.css", "text/css"]] as const) {
      const res = await fetch(`${node.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  test("every log line of a request carries its request id and the caller's trace id", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    lines.length = 0;
    const res = await fetch(node.url, {
      method: "POST",
      headers: { "content-type": ENCRYPTED, "x-request-id": "req-trace-1", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-request-id")).toBe("req-trace-1");
    const mine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === "req-trace-1");
    expect(mine.length).toBeGreaterThanOrEqual(1); // debug "message refused" / "POST / handled"
    for (const l of mine) {
      expect(l.traceId).toBe(traceId);
      expect(l.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(l.spanId).not.toBe("00f067aa0ba902b7");
    }
    // No trace fields leak onto lines outside a request.
    const outside = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === undefined);
    for (const l of outside) expect(l.traceId).toBeUndefined();
  });
});

describe("timedMailbox", () => {
  test("times deliver as the given stage, also when it fails; other operations pass through", async () => {
    const { timedMailbox } = await import("../../src/node/metrics-wiring.ts");
    const { Metrics } = await import("../../src/observability/metrics.ts");
    const m = new Metrics({ defaultMetrics: false });
    let fail = false;
    const calls: string[] = [];
    const port = {
      deliver: async () => {
        calls.push("deliver");
        if (fail) throw new Error("boom");
        return { result: { status: "stored" as const, id: "x" }, notified: 0 };
      },
      list: async () => (calls.push("list"), []),
      stats: async () => (calls.push("stats"), { message_count: 0 } as never),
      remove: async () => (calls.push("remove"), 0),
      subscribe: async () => (calls.push("subscribe"), () => {}),
    };
    const timed = timedMailbox(port as never, m, "journal");
    await timed.deliver({} as never);
    fail = true;
    await expect(timed.deliver({} as never)).rejects.toThrow("boom");
    await timed.list("a", { limit: 1 });
    await timed.remove("a", []);
    const series = parseExposition(await m.render()).series;
    expect(series.get('haven_stage_duration_seconds_count{stage="journal"}')).toBe(2);
    expect(series.get('haven_stage_duration_seconds_count{stage="store"}')).toBe(0);
    expect(calls).toEqual(["deliver", "deliver", "list", "remove"]);
    m.close();
  });
});
