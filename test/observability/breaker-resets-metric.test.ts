// haven_breaker_resets_total{store}: an operator reset through a real node's admin API is counted on its /metrics;
// the adapter registers the counter once per registry.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { prometheusDeliveryMetrics } from "../../src/node/delivery-metrics.ts";

const BREAKER_RESETS_METRIC = "haven_breaker_resets_total";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger, Metrics } from "../../src/observability/index.ts";
import { parseExposition } from "./metrics-text.ts";

const ADMIN_TOKEN = "breaker-reset-metric-token-0123456789";
let node: HavenNode;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "haven-breaker-reset-"));
  const base = loadConfig({ DATA_DIR: dir, HOST: "127.0.0.1", ADMIN_TOKEN });
  const config: Config = { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
  node = await createNode(config, { logger: createLogger({ level: "silent" }) });
}, 30_000);

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function resets(): Promise<Map<string, number>> {
  const res = await fetch(`${node.url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text).toContain(`# TYPE ${BREAKER_RESETS_METRIC} counter`);
  return new Map([...parseExposition(text).series].filter(([k]) => k.startsWith(BREAKER_RESETS_METRIC)));
}

describe("breaker reset counter", () => {
  test("zero series from the start; each POST /admin/breakers/reset on a single node counts one local reset", async () => {
    expect(await resets()).toEqual(new Map([[`${BREAKER_RESETS_METRIC}{store="shared"}`, 0], [`${BREAKER_RESETS_METRIC}{store="local"}`, 0]]));
    for (const destination of ["https://down.example/a", "https://other.example:8443"]) {
      const res = await fetch(`${node.url}/admin/breakers/reset`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ destination }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { store: string }).store).toBe("local");
    }
    // A rejected request (no destination) resets nothing and counts nothing.
    const bad = await fetch(`${node.url}/admin/breakers/reset`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: "{}" });
    expect(bad.status).toBe(400);
    const after = await resets();
    expect(after.get(`${BREAKER_RESETS_METRIC}{store="local"}`)).toBe(2);
    expect(after.get(`${BREAKER_RESETS_METRIC}{store="shared"}`)).toBe(0);
  }, 30_000);

  test("a second adapter on the same Metrics shares the counter instead of failing to register it", async () => {
    const m = new Metrics({ defaultMetrics: false });
    const a = prometheusDeliveryMetrics(m, true);
    const b = prometheusDeliveryMetrics(m, true);
    a.breakerReset?.({ destination: "https://x.example:443", store: "shared" });
    b.breakerReset?.({ destination: "https://x.example:443", store: "shared" });
    b.breakerReset?.({ destination: "https://x.example:443", store: "local" });
    const s = parseExposition(await m.render()).series;
    expect(s.get(`${BREAKER_RESETS_METRIC}{store="shared"}`)).toBe(2);
    expect(s.get(`${BREAKER_RESETS_METRIC}{store="local"}`)).toBe(1);
  });
});
