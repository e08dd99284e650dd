// Builds the catalogue's prom-client metrics on one private Registry, with fixed label sets pre-initialised to 0.
import { Counter, Gauge, Histogram, Registry, type Aggregator } from "prom-client";
import { CATALOGUE, type CatalogueKey, type MetricDef } from "./metrics-catalogue.ts";

type Def<K extends CatalogueKey> = (typeof CATALOGUE)[K];
/** The prom-client object type for each catalogue entry. */
export type Built = {
  [K in CatalogueKey]: Def<K>["type"] extends "counter" ? Counter<string> : Def<K>["type"] extends "gauge" ? Gauge<string> : Histogram<string>;
};

/** Every combination of the fixed label values of a definition; none when a label is open (destination, static). */
function fixedCombinations(d: MetricDef): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const [name, values] of Object.entries(d.labels)) {
    if (typeof values === "string") return [];
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [name]: v })));
  }
  return out;
}

function build(d: MetricDef, registry: Registry): Counter<string> | Gauge<string> | Histogram<string> {
  const common = {
    name: d.name,
    help: d.help,
    labelNames: Object.keys(d.labels),
    registers: [registry],
    aggregator: (d.aggregator ?? "sum") satisfies Aggregator,
  };
  switch (d.type) {
    case "counter": {
      const c = new Counter(common);
      // Zero series exist from the start, so rate() and absent-series alerts see every reason/outcome.
      for (const labels of fixedCombinations(d)) if (Object.keys(labels).length > 0) c.inc(labels, 0);
      return c;
    }
    case "gauge":
      return new Gauge(common);
    case "histogram": {
      const h = new Histogram({ ...common, buckets: [...(d.buckets ?? [])] });
      for (const labels of fixedCombinations(d)) if (Object.keys(labels).length > 0) h.zero(labels);
      return h;
    }
  }
}

/** One prom-client object per catalogue entry, all registered on `registry`. */
export function buildCatalogue(registry: Registry): Built {
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(CATALOGUE) as [CatalogueKey, MetricDef][]) out[key] = build(d, registry);
  return out as Built;
}
