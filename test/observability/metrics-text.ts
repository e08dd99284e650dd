// Test helper: parses Prometheus text exposition into series -> value and name -> type, to compare renderings.

export interface Parsed {
  /** `name{a="x",b="y"}` with labels sorted -> value. */
  series: Map<string, number>;
  /** Family name -> type from `# TYPE` lines. */
  types: Map<string, string>;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Parsed {
  const series = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels = [...(m[2] ?? "").matchAll(LABEL)].map((l) => `${l[1]}="${l[2]}"`).sort();
    const key = `${m[1]}{${labels.join(",")}}`;
    if (series.has(key)) throw new Error(`duplicate series ${key}`);
    const raw = m[3]!;
    series.set(key, raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw));
  }
  return { series, types };
}

/** Seeded PRNG (mulberry32) for randomised tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Metric names referenced in a PromQL expression (haven_*, process_*, nodejs_* and up). */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(haven_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!);
}

/** Every series name a Haven node exposes (catalogue + histogram suffixes + default process metrics), plus `up`. */
export async function exposedMetricNames(): Promise<Set<string>> {
  const { Metrics } = await import("../../src/observability/index.ts");
  const m = new Metrics();
  try {
    const names = new Set<string>(["up", "haven_cluster_nodes_reporting"]);
    for (const line of (await m.render()).split("\n")) {
      const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1];
      if (name) names.add(name);
      const typed = /^# TYPE (\S+) (\S+)/.exec(line);
      if (typed) names.add(typed[1]!);
      // A labelled histogram with no observation yet prints no series; its series names still exist.
      if (typed?.[2] === "histogram") for (const sfx of ["_bucket", "_sum", "_count"]) names.add(typed[1]! + sfx);
    }
    return names;
  } finally {
    m.close();
  }
}
