// Metrics: private registries, the full catalogue with conventional names and bounded labels, and the helpers.
import { afterEach, describe, expect, test } from "bun:test";
import { register as globalRegistry } from "prom-client";
import { CATALOGUE, HAVEN_METRIC_NAMES, Metrics, type MetricsOptions } from "../../src/observability/index.ts";
import { parseExposition } from "./metrics-text.ts";

const open: Metrics[] = [];
const make = (o: MetricsOptions = {}) => {
  const m = new Metrics({ defaultMetrics: false, ...o });
  open.push(m);
  return m;
};
afterEach(() => {
  for (const m of open.splice(0)) m.close();
});

const series = async (m: Metrics) => parseExposition(await m.render()).series;
const value = async (m: Metrics, key: string) => (await series(m)).get(key);

describe("registry", () => {
  test("each instance owns its registry; nothing lands in prom-client's global one", async () => {
    const a = make();
    const b = make();
    a.forwardAccepted();
    a.forwardAccepted(2);
    expect(await value(a, "haven_forwards_accepted_total{}")).toBe(3);
    expect(await value(b, "haven_forwards_accepted_total{}")).toBe(0);
    expect((await globalRegistry.metrics()).includes("haven_")).toBe(false);
  });

  test("every catalogue metric is exposed with its declared type", async () => {
    const { types } = parseExposition(await make().render());
    for (const d of Object.values(CATALOGUE)) expect([d.name, types.get(d.name)]).toEqual([d.name, d.type]);
  });

  test("names follow the conventions: haven_ prefix, unit last, _total only on counters", () => {
    for (const d of Object.values(CATALOGUE)) {
      expect(d.name).toMatch(/^haven_[a-z0-9_]+$/);
      expect([d.name, d.name.endsWith("_total")]).toEqual([d.name, d.type === "counter"]);
      if (d.type === "histogram") expect(d.name).toMatch(/_(seconds|bytes)$/);
    }
    expect(new Set(HAVEN_METRIC_NAMES).size).toBe(HAVEN_METRIC_NAMES.length);
  });

  test("no label can carry unbounded values: fixed sets, the capped destination, or per-process static", () => {
    for (const d of Object.values(CATALOGUE)) {
      for (const [name, values] of Object.entries(d.labels)) {
        if (values !== "static") expect(name).not.toMatch(/did|_id$|message|url|recipient|sender/);
        if (typeof values === "string") expect(["destination", "static"]).toContain(values);
        else expect(values.length).toBeLessThanOrEqual(20);
      }
    }
    // The only static labels are on haven_node_info (one series per process).
    const statics = Object.values(CATALOGUE).filter((d) => Object.values(d.labels).includes("static" as never));
    expect(statics.map((d) => d.name)).toEqual(["haven_node_info"]);
  });

  test("default process metrics are on by default (RSS, CPU, GC, event-loop lag)", async () => {
    const m = new Metrics();
    open.push(m);
    const { types } = parseExposition(await m.render());
    for (const name of ["process_resident_memory_bytes", "process_cpu_seconds_total", "nodejs_eventloop_lag_seconds", "nodejs_gc_duration_seconds"]) {
      expect([name, types.has(name)]).toEqual([name, true]);
    }
  });

  test("node info carries node id, version and mode; content type is Prometheus text", async () => {
    const m = make({ nodeId: "haven-2", version: "1.2.3", mode: "cluster" });
    expect(await value(m, 'haven_node_info{mode="cluster",node_id="haven-2",version="1.2.3"}')).toBe(1);
    expect(m.contentType).toContain("text/plain");
  });
});

describe("helpers", () => {
  test("forwards, rejections by reason, request and stage latency", async () => {
    const m = make();
    m.forwardRejected("unpack_failed");
    m.forwardRejected("unpack_failed");
    m.forwardRejected("bogus" as never);
    m.observeRequest("https://didcomm.org/routing/2.0/forward", 0.002);
    m.observeRequest("https://example.org/custom/1.0/thing", 0.002);
    m.observeStage("unpack", 0.0004);
    const end = m.startStage("journal");
    const s = await series(m);
    expect(s.get('haven_forwards_rejected_total{reason="unpack_failed"}')).toBe(2);
    expect(s.get('haven_forwards_rejected_total{reason="internal"}')).toBe(1);
    expect(s.get('haven_forwards_rejected_total{reason="replay"}')).toBe(0);
    expect(s.get('haven_request_duration_seconds_count{protocol="routing"}')).toBe(1);
    expect(s.get('haven_request_duration_seconds_count{protocol="other"}')).toBe(1);
    expect(s.get('haven_stage_duration_seconds_bucket{le="0.0005",stage="unpack"}')).toBe(1);
    expect(s.get('haven_stage_duration_seconds_bucket{le="0.00025",stage="unpack"}')).toBe(0);
    expect(s.get('haven_stage_duration_seconds_count{stage="journal"}')).toBe(0);
    expect(end()).toBeGreaterThanOrEqual(0);
    expect(await value(m, 'haven_stage_duration_seconds_count{stage="journal"}')).toBe(1);
  });

  test("negative or non-finite values are dropped and counted, never thrown", async () => {
    const m = make();
    m.observeStage("unpack", -1);
    m.observeStage("unpack", Number.NaN);
    m.setOutbox(Number.POSITIVE_INFINITY);
    m.forwardAccepted(-3);
    const s = await series(m);
    expect(s.get("haven_metrics_invalid_observations_total{}")).toBe(4);
    expect(s.get('haven_stage_duration_seconds_count{stage="unpack"}')).toBe(0);
    expect(s.get("haven_forwards_accepted_total{}")).toBe(0);
  });

  test("gauges: mailboxes, sockets, replication, ownership, gossip view, fallback", async () => {
    const m = make();
    m.setMailboxes({ mailboxes: 4, messages: 10, bytes: 2048, maxDepthMessages: 7, maxFillRatio: 1.5 });
    m.socketOpened();
    m.socketOpened();
    m.socketClosed();
    m.setReplication({ pendingMessages: 3, lagSeconds: 1.5 });
    m.ownershipChanged("acquired", 8);
    m.setGossipView({ alive: 3, suspect: 1 });
    m.setFallbackActive(true);
    m.fallbackTriggered();
    m.setReady(true);
    m.setHealthCheck("nats", false);
    m.setDisk({ freeBytes: 10, sizeBytes: 100 });
    const s = await series(m);
    expect(s.get("haven_mailboxes{}")).toBe(4);
    expect(s.get("haven_mailbox_fill_ratio_max{}")).toBe(1);
    expect(s.get("haven_websocket_connections{}")).toBe(1);
    expect(s.get("haven_replication_lag_seconds{}")).toBe(1.5);
    expect(s.get('haven_ownership_changes_total{change="acquired"}')).toBe(8);
    expect(s.get('haven_gossip_members{state="alive"}')).toBe(3);
    expect(s.get('haven_gossip_members{state="dead"}')).toBe(0);
    expect(s.get("haven_controlplane_fallback_active{}")).toBe(1);
    expect(s.get("haven_edge_fallback_triggered_total{}")).toBe(1);
    expect(s.get("haven_ready{}")).toBe(1);
    expect(s.get('haven_health_check_ok{check="nats"}')).toBe(0);
    expect(s.get("haven_disk_free_bytes{}")).toBe(10);
  });

  test("cache miss rate follows the lookups", async () => {
    const m = make({ cacheWindowSize: 4 });
    expect(await value(m, "haven_cache_miss_rate{}")).toBe(0);
    for (const hit of [false, false, true, true]) m.cacheLookup(hit);
    expect(await value(m, "haven_cache_miss_rate{}")).toBe(0.5);
    m.cacheLookup(true);
    m.cacheLookup(true); // both misses left the window of 4
    expect(await value(m, "haven_cache_miss_rate{}")).toBe(0);
    expect(await value(m, 'haven_cache_requests_total{result="miss"}')).toBe(2);
  });

  test("deliveries, attempts with latency, DLQ and breakers per destination", async () => {
    const m = make();
    m.deliveryAttempt("webhook", "http_5xx", 0.02);
    m.deliveryAttempt("webhook", "success", 0.01);
    m.delivery("webhook", "delivered");
    m.delivery("push", "dead_lettered");
    m.setDlqSize(1);
    m.breakerTransition("https://hooks.example.com/a/b?x=1", "open");
    m.breakerTransition("https://HOOKS.example.com:443/other", "half_open");
    const s = await series(m);
    expect(s.get('haven_delivery_attempts_total{kind="webhook",result="http_5xx"}')).toBe(1);
    expect(s.get('haven_delivery_duration_seconds_count{kind="webhook"}')).toBe(2);
    expect(s.get('haven_deliveries_total{kind="push",outcome="dead_lettered"}')).toBe(1);
    expect(s.get("haven_dlq_events{}")).toBe(1);
    const d = 'destination="https://hooks.example.com:443"';
    expect(s.get(`haven_breaker_transitions_total{${d},to="open"}`)).toBe(1);
    expect(s.get(`haven_breaker_transitions_total{${d},to="half_open"}`)).toBe(1);
    expect([0, 1, 2].map((i) => s.get(`haven_breaker_state{${d},state="${["closed", "open", "half_open"][i]}"}`))).toEqual([0, 0, 1]);
  });

  test("breaker destinations are capped: later ones fold into 'other'", async () => {
    const m = make({ maxDestinations: 2 });
    for (let i = 0; i < 100; i++) m.setBreakerState(`https://h${i}.example:8443/x`, "closed");
    const keys = [...(await series(m)).keys()].filter((k) => k.startsWith("haven_breaker_state{"));
    const destinations = new Set(keys.map((k) => /destination="([^"]*)"/.exec(k)![1]));
    expect([...destinations].sort()).toEqual(["https://h0.example:8443", "https://h1.example:8443", "other"]);
    expect(m.destinations.folded).toBe(98);
  });

  test("collectors run before each render; a throwing one is counted and the scrape still succeeds", async () => {
    const m = make();
    let outbox = 5;
    const remove = m.addCollector(() => m.setOutbox(outbox));
    m.addCollector(() => {
      throw new Error("sampler broke");
    });
    m.addCollector(async () => m.setDlqSize(2));
    expect(await value(m, "haven_outbox_messages{}")).toBe(5);
    outbox = 9;
    const s = await series(m);
    expect(s.get("haven_outbox_messages{}")).toBe(9);
    expect(s.get("haven_dlq_events{}")).toBe(2);
    expect(s.get("haven_metrics_collector_errors_total{}")).toBe(2);
    remove();
    outbox = 1;
    expect(await value(m, "haven_outbox_messages{}")).toBe(9);
  });

  test("options are bounded", () => {
    expect(() => new Metrics({ defaultMetrics: false, maxDestinations: 0 })).toThrow(RangeError);
    expect(() => new Metrics({ defaultMetrics: false, cacheWindowSize: 0 })).toThrow(RangeError);
    expect(() => new Metrics({ eventLoopPrecisionMs: 0 })).toThrow(RangeError);
  });
});
