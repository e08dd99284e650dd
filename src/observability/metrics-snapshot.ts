// The JSON snapshot of a node's metrics: its shape, conversion from prom-client, and bounded parsing from the wire.
import type { Aggregator, MetricObjectWithValues, MetricValue } from "prom-client";

export type FamilyType = "counter" | "gauge" | "histogram" | "summary";

export interface Sample {
  /** Series name when it differs from the family (histograms: `<name>_bucket`, `_sum`, `_count`). */
  metricName?: string;
  labels: Record<string, string>;
  /** NaN travels as JSON null. */
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: FamilyType;
  aggregator: Aggregator;
  values: Sample[];
}

export interface MetricsSnapshot {
  version: 1;
  families: Family[];
}

/** Bounds for snapshots read from other nodes. */
export const SNAPSHOT_LIMITS = {
  families: 2000,
  samplesPerFamily: 20_000,
  labelsPerSample: 16,
  labelValueChars: 256,
  helpChars: 1024,
} as const;

const AGGREGATORS: readonly Aggregator[] = ["sum", "first", "min", "max", "average", "omit"];
const TYPES: readonly FamilyType[] = ["counter", "gauge", "histogram", "summary"];
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,99}$/;

/** From `registry.getMetricsAsJSON()`: label values as strings, unknown types dropped. */
export function toSnapshot(json: MetricObjectWithValues<MetricValue<string>>[]): MetricsSnapshot {
  const families: Family[] = [];
  for (const m of json) {
    const type = String(m.type) as FamilyType;
    if (!TYPES.includes(type)) continue;
    const values: Sample[] = m.values.map((v) => {
      const labels: Record<string, string> = {};
      for (const [k, val] of Object.entries(v.labels)) if (val !== undefined) labels[k] = String(val);
      const metricName = (v as { metricName?: string }).metricName;
      return metricName === undefined ? { labels, value: v.value } : { metricName, labels, value: v.value };
    });
    families.push({ name: m.name, help: m.help, type, aggregator: m.aggregator ?? "sum", values });
  }
  return { version: 1, families };
}

export class SnapshotError extends Error {
  override name = "SnapshotError";
}

const fail = (what: string): never => {
  throw new SnapshotError(`invalid metrics snapshot: ${what}`);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parseSample(v: unknown): Sample {
  if (!isObject(v) || !isObject(v.labels)) return fail("sample");
  const value = v.value === null ? Number.NaN : v.value;
  if (typeof value !== "number") fail("sample value");
  const entries = Object.entries(v.labels);
  if (entries.length > SNAPSHOT_LIMITS.labelsPerSample) fail("too many labels");
  const labels: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!LABEL_NAME.test(k) || typeof val !== "string" || val.length > SNAPSHOT_LIMITS.labelValueChars) fail("label");
    labels[k] = val as string;
  }
  if (v.metricName === undefined) return { labels, value: value as number };
  if (typeof v.metricName !== "string" || !METRIC_NAME.test(v.metricName)) return fail("metricName");
  return { metricName: v.metricName, labels, value: value as number };
}

/** Validates a snapshot received from another node (JSON.parse output). Throws SnapshotError. */
export function parseSnapshot(input: unknown): MetricsSnapshot {
  if (!isObject(input) || input.version !== 1 || !Array.isArray(input.families)) return fail("shape");
  if (input.families.length > SNAPSHOT_LIMITS.families) fail("too many families");
  const families = input.families.map((f): Family => {
    if (!isObject(f) || typeof f.name !== "string" || !METRIC_NAME.test(f.name)) return fail("family name");
    if (typeof f.help !== "string" || f.help.length > SNAPSHOT_LIMITS.helpChars) fail("help");
    if (!TYPES.includes(f.type as FamilyType)) fail("type");
    if (!AGGREGATORS.includes(f.aggregator as Aggregator)) fail("aggregator");
    if (!Array.isArray(f.values) || f.values.length > SNAPSHOT_LIMITS.samplesPerFamily) return fail("values");
    return {
      name: f.name,
      help: f.help as string,
      type: f.type as FamilyType,
      aggregator: f.aggregator as Aggregator,
      values: f.values.map(parseSample),
    };
  });
  return { version: 1, families };
}
