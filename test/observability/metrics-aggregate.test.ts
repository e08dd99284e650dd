// Cluster aggregation: totals equal the sum over nodes, view gauges use their aggregator, snapshots are validated.
import { afterEach, describe, expect, test } from "bun:test";
import {
  aggregate,
  aggregateSnapshots,
  ATTEMPT_RESULTS,
  CATALOGUE,
  DELIVERY_KINDS,
  Metrics,
  parseSnapshot,
  REJECT_REASONS,
  renderSnapshot,
  SnapshotError,
  STAGES,
  type MetricDef,
  type MetricsSnapshot,
} from "../../src/observability/index.ts";
import { parseExposition, rng } from "./metrics-text.ts";

const open: Metrics[] = [];
afterEach(() => {
  for (const m of open.splice(0)) m.close();
});
const node = (nodeId: string, defaultMetrics = false) => {
  const m = new Metrics({ nodeId, defaultMetrics });
  open.push(m);
  return m;
};
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** Drives one node through a random workload. */
function workload(m: Metrics, r: () => number, steps: number): void {
  for (let i = 0; i < steps; i++) {
    switch (Math.floor(r() * 8)) {
      case 0: m.forwardAccepted(); break;
      case 1: m.forwardRejected(pick(r, REJECT_REASONS)); break;
      case 2: m.observeStage(pick(r, STAGES), r() * 0.05); break;
      case 3: m.deliveryAttempt(pick(r, DELIVERY_KINDS), pick(r, ATTEMPT_RESULTS), r() * 2); break;
      case 4: m.delivery(pick(r, DELIVERY_KINDS), r() < 0.9 ? "delivered" : "dead_lettered"); break;
      case 5: m.setOutbox(Math.floor(r() * 100)); break;
      case 6: m.setGossipView({ alive: 1 + Math.floor(r() * 4), suspect: Math.floor(r() * 2) }); break;
      case 7: m.breakerTransition(pick(r, ["https://a.example", "https://b.example:8443"]), pick(r, ["open", "closed", "half_open"] as const)); break;
    }
  }
}

const aggregatorOf = new Map<string, string>(Object.values(CATALOGUE).map((d: MetricDef) => [d.name, d.aggregator ?? "sum"]));
const familyOf = (key: string) => key.slice(0, key.indexOf("{")).replace(/_(bucket|sum|count)$/, "");

describe("aggregate", () => {
  test("cluster totals equal the sum over nodes for every counter, histogram series and per-node gauge", async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`metrics aggregate seed: SEED=${seed}`);
    const r = rng(seed);
    const nodes = [node("n1"), node("n2"), node("n3")];
    for (const m of nodes) workload(m, r, 500);
    const snaps = await Promise.all(nodes.map((m) => m.snapshot()));
    const perNode = await Promise.all(nodes.map(async (m) => parseExposition(await m.render()).series));
    const cluster = parseExposition(aggregate(snaps)).series;

    expect(cluster.get("haven_cluster_nodes_reporting{}")).toBe(3);
    const keys = new Set(perNode.flatMap((s) => [...s.keys()]));
    let checked = 0;
    for (const key of keys) {
      const values = perNode.map((s) => s.get(key)).filter((v): v is number => v !== undefined);
      const agg = aggregatorOf.get(familyOf(key)) ?? "sum";
      const expected = agg === "max" ? Math.max(...values) : agg === "average" ? values.reduce((a, b) => a + b) / values.length : values.reduce((a, b) => a + b);
      expect([key, cluster.get(key)! - expected]).toEqual([key, expect.closeTo(0, 9) as unknown as number]);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
    // Exactly the nodes' series (plus the reporting gauge): aggregation invents nothing.
    expect(cluster.size).toBe(keys.size + 1);
    // Node info keeps one series per node.
    expect([...cluster.keys()].filter((k) => k.startsWith("haven_node_info{"))).toHaveLength(3);
  });

  test("histograms stay cumulative after merging", async () => {
    const a = node("a");
    const b = node("b");
    a.observeStage("unpack", 0.0002);
    b.observeStage("unpack", 0.003);
    b.observeStage("unpack", 20);
    const text = aggregate([await a.snapshot(), await b.snapshot()]);
    const lines = text.split("\n").filter((l) => l.startsWith('haven_stage_duration_seconds_bucket{stage="unpack"'));
    const counts = lines.map((l) => Number(l.split(" ")[1]));
    expect(counts.every((c, i) => i === 0 || c >= counts[i - 1]!)).toBe(true);
    expect(lines.at(-1)).toBe('haven_stage_duration_seconds_bucket{stage="unpack",le="+Inf"} 3');
    expect(text).toContain('haven_stage_duration_seconds_count{stage="unpack"} 3');
  });

  test("omit-aggregated process metrics are dropped, averaged ones are averaged", async () => {
    const snaps = [await node("a", true).snapshot(), await node("b", true).snapshot()];
    const types = parseExposition(aggregate(snaps)).types;
    expect(types.has("process_start_time_seconds")).toBe(false);
    expect(types.get("process_resident_memory_bytes")).toBe("gauge");
    expect(types.get("nodejs_eventloop_lag_seconds")).toBe("gauge");
  });

  test("rendering a single snapshot gives the same series as prom-client's own exposition", async () => {
    const m = node("solo");
    workload(m, rng(7), 300);
    const ours = parseExposition(renderSnapshot(await m.snapshot()));
    const theirs = parseExposition(await m.registry.metrics());
    expect(ours.series).toEqual(theirs.series);
    expect(ours.types).toEqual(theirs.types);
  });

  test("a family whose type differs on one node is skipped for that node; summary quantiles are dropped", () => {
    const snap = (type: "counter" | "gauge", v: number): MetricsSnapshot => ({
      version: 1,
      families: [
        { name: "x_total", help: "x", type, aggregator: "sum", values: [{ labels: {}, value: v }] },
        {
          name: "s",
          help: "s",
          type: "summary",
          aggregator: "sum",
          values: [
            { labels: { quantile: "0.5" }, value: 1 },
            { metricName: "s_count", labels: {}, value: v },
          ],
        },
      ],
    });
    const out = parseExposition(aggregate([snap("counter", 2), snap("gauge", 5), snap("counter", 3)])).series;
    expect(out.get("x_total{}")).toBe(5);
    expect(out.get("s_count{}")).toBe(10);
    expect(out.has('s{quantile="0.5"}')).toBe(false);
  });

  test("label values are escaped", () => {
    const text = renderSnapshot({
      version: 1,
      families: [{ name: "e", help: "line\nbreak \\", type: "gauge", aggregator: "sum", values: [{ labels: { v: 'a"b\\c\nd' }, value: Number.NaN }] }],
    });
    expect(text).toBe('# HELP e line\\nbreak \\\\\n# TYPE e gauge\ne{v="a\\"b\\\\c\\nd"} NaN\n');
  });

  test("no snapshots: only the reporting gauge, at 0", () => {
    expect(aggregateSnapshots([]).families.map((f) => [f.name, f.values[0]!.value])).toEqual([["haven_cluster_nodes_reporting", 0]]);
  });
});

describe("parseSnapshot", () => {
  test("round-trips through JSON (NaN travels as null)", async () => {
    const m = node("wire");
    workload(m, rng(3), 100);
    const snap = await m.snapshot();
    snap.families.push({ name: "nan_gauge", help: "h", type: "gauge", aggregator: "sum", values: [{ labels: {}, value: Number.NaN }] });
    const back = parseSnapshot(JSON.parse(JSON.stringify(snap)));
    expect(renderSnapshot(back)).toBe(renderSnapshot(snap));
  });

  test("rejects malformed or oversized input with SnapshotError", () => {
    const fam = (over: Record<string, unknown>) => ({ version: 1, families: [{ name: "a", help: "h", type: "gauge", aggregator: "sum", values: [], ...over }] });
    const bad: unknown[] = [
      null,
      [],
      { version: 2, families: [] },
      fam({ name: "bad name" }),
      fam({ type: "untyped" }),
      fam({ aggregator: "median" }),
      fam({ help: "x".repeat(5000) }),
      fam({ values: [{ labels: {}, value: "1" }] }),
      fam({ values: [{ labels: { "bad-label": "x" }, value: 1 }] }),
      fam({ values: [{ labels: { l: 1 }, value: 1 }] }),
      fam({ values: [{ labels: { l: "x".repeat(300) }, value: 1 }] }),
      fam({ values: [{ labels: {}, value: 1, metricName: "no spaces" }] }),
      fam({ values: Array.from({ length: 20_001 }, () => ({ labels: {}, value: 1 })) }),
      { version: 1, families: Array.from({ length: 2001 }, () => ({})) },
    ];
    for (const input of bad) expect(() => parseSnapshot(input)).toThrow(SnapshotError);
    expect(parseSnapshot(fam({ values: [{ labels: { l: "x" }, value: null }] })).families[0]!.values[0]!.value).toBeNaN();
  });
});
