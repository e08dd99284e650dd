// Cluster aggregation for GET /cluster/metrics: merges node snapshots per series and renders Prometheus text.
import type { Aggregator } from "prom-client";
import { NODES_REPORTING } from "./metrics-catalogue.ts";
import type { Family, MetricsSnapshot, Sample } from "./metrics-snapshot.ts";

type Combine = (values: number[]) => number;

/** prom-client's aggregator semantics ("omit" drops the family, e.g. process_start_time_seconds). */
const COMBINE: Record<Exclude<Aggregator, "omit">, Combine> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  first: (v) => v[0]!,
  min: (v) => Math.min(...v),
  max: (v) => Math.max(...v),
  average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
};

function seriesKey(s: Sample): string {
  const labels = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(",");
  return `${s.metricName ?? ""}{${labels}}`;
}

/**
 * Merges families of the same name across nodes. Counters, histogram buckets/sums/counts and per-node gauges
 * are summed (so cluster totals equal the sum over nodes); families whose aggregator says otherwise (a node's
 * view of something shared: gossip members, breaker state, max fill) use it. A family whose type differs from
 * the first node's (version skew) is skipped for that node. Summary quantiles cannot be combined and are dropped.
 * Adds `haven_cluster_nodes_reporting`.
 */
export function aggregateSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const byName = new Map<string, { first: Family; series: Map<string, { sample: Sample; values: number[] }> }>();
  for (const snap of snapshots) {
    for (const f of snap.families) {
      let entry = byName.get(f.name);
      if (entry === undefined) {
        entry = { first: f, series: new Map() };
        byName.set(f.name, entry);
      } else if (entry.first.type !== f.type) continue;
      for (const s of f.values) {
        if (f.type === "summary" && "quantile" in s.labels) continue;
        const key = seriesKey(s);
        const series = entry.series.get(key);
        if (series === undefined) entry.series.set(key, { sample: s, values: [s.value] });
        else series.values.push(s.value);
      }
    }
  }
  const families: Family[] = [
    { name: NODES_REPORTING, help: "Node snapshots aggregated into this response.", type: "gauge", aggregator: "sum", values: [{ labels: {}, value: snapshots.length }] },
  ];
  for (const { first, series } of byName.values()) {
    if (first.aggregator === "omit" || first.name === NODES_REPORTING) continue;
    const combine = COMBINE[first.aggregator] ?? COMBINE.sum;
    const values: Sample[] = [];
    for (const { sample, values: vs } of series.values()) {
      const out: Sample = { labels: sample.labels, value: combine(vs) };
      if (sample.metricName !== undefined) out.metricName = sample.metricName;
      values.push(out);
    }
    if (first.type === "histogram") values.sort(histogramOrder);
    families.push({ name: first.name, help: first.help, type: first.type, aggregator: first.aggregator, values });
  }
  return { version: 1, families };
}

/** Groups a histogram's series by label set, buckets in ascending `le`, then `_sum` and `_count`. */
function histogramOrder(a: Sample, b: Sample): number {
  const ga = groupKey(a);
  const gb = groupKey(b);
  if (ga !== gb) return ga < gb ? -1 : 1;
  const ra = suffixRank(a);
  const rb = suffixRank(b);
  if (ra !== rb) return ra - rb;
  return leValue(a) - leValue(b);
}
const groupKey = (s: Sample) => seriesKey({ labels: Object.fromEntries(Object.entries(s.labels).filter(([k]) => k !== "le")), value: 0 });
const suffixRank = (s: Sample) => (s.metricName?.endsWith("_bucket") ? 0 : s.metricName?.endsWith("_sum") ? 1 : 2);
const leValue = (s: Sample) => (s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le ?? 0));

const escapeHelp = (s: string) => s.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
const escapeLabel = (s: string) => escapeHelp(s).replaceAll('"', '\\"');

/** Prometheus number syntax. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/** Prometheus text exposition format 0.0.4 (the content type of Metrics.contentType). */
export function renderSnapshot(snapshot: MetricsSnapshot): string {
  const blocks: string[] = [];
  for (const f of snapshot.families) {
    const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
    for (const s of f.values) {
      // `le` last, as Prometheus clients print it.
      const keys = Object.keys(s.labels).sort((a, b) => (a === "le" ? 1 : b === "le" ? -1 : 0));
      const labels = keys.map((k) => `${k}="${escapeLabel(s.labels[k]!)}"`).join(",");
      lines.push(`${s.metricName ?? f.name}${labels === "" ? "" : `{${labels}}`} ${formatValue(s.value)}`);
    }
    blocks.push(lines.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

/** GET /cluster/metrics body: the nodes' snapshots merged and rendered. Pure. */
export function aggregate(snapshots: readonly MetricsSnapshot[]): string {
  return renderSnapshot(aggregateSnapshots(snapshots));
}
