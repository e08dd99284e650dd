// Micro-benchmark helpers: sequential timed loops in ops/s, alternating rounds with medians, argv parsing, tables.

export interface MeasureOptions {
  /** Warm-up time before timing starts (JIT, caches, WASM tiers). */
  warmupMs: number;
  /** Timed loop runs at least this long... */
  minMs: number;
  /** ...and at least this many operations. */
  minOps: number;
  /** Hard cap on timed operations (bounds memory growth of leaky callees). */
  maxOps: number;
}

export interface Measurement {
  ops: number;
  elapsedMs: number;
  opsPerSec: number;
}

/** The clock is read every CHECK_EVERY ops to keep its cost out of fast cases. */
const CHECK_EVERY = 16;

/**
 * Runs `op` strictly one at a time (await each) so figures are per-core latency-bound throughput,
 * not concurrency: warm-up, then a timed loop of at least `minMs` and `minOps`.
 */
export async function measure(op: () => unknown, opts: MeasureOptions): Promise<Measurement> {
  const warmEnd = performance.now() + opts.warmupMs;
  while (performance.now() < warmEnd) {
    for (let i = 0; i < CHECK_EVERY; i++) await op();
  }
  let ops = 0;
  const start = performance.now();
  let now = start;
  while ((now - start < opts.minMs || ops < opts.minOps) && ops < opts.maxOps) {
    for (let i = 0; i < CHECK_EVERY; i++) await op();
    ops += CHECK_EVERY;
    now = performance.now();
  }
  const elapsedMs = now - start;
  return { ops, elapsedMs, opsPerSec: (ops * 1000) / elapsedMs };
}

export interface CompareOptions {
  /** Timed rounds per implementation; the median round is reported. */
  rounds: number;
  roundMs: number;
  warmupMs: number;
  minOpsPerRound: number;
}

export interface Summary {
  /** Median of the rounds' ops/s (the figure reported). */
  median: number;
  min: number;
  max: number;
  totalOps: number;
  totalMs: number;
}

/**
 * Measures two implementations of the same operation in alternating rounds (a, b, a, b, ...) so
 * that drift in a shared, noisy machine (other tenants, frequency, GC debt) hits both alike, and
 * reports each one's median round.
 */
export async function compare(a: () => unknown, b: () => unknown, opts: CompareOptions): Promise<[Summary, Summary]> {
  const round = { warmupMs: 0, minMs: opts.roundMs, minOps: opts.minOpsPerRound, maxOps: 5_000_000 };
  await measure(a, { ...round, warmupMs: opts.warmupMs, minMs: 0, minOps: 1 });
  await measure(b, { ...round, warmupMs: opts.warmupMs, minMs: 0, minOps: 1 });
  Bun.gc(true); // start timing from a clean heap so the previous case's garbage is not billed to this one
  const ra: Measurement[] = [];
  const rb: Measurement[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    ra.push(await measure(a, round));
    rb.push(await measure(b, round));
  }
  return [summarize(ra), summarize(rb)];
}

function summarize(rounds: Measurement[]): Summary {
  if (rounds.length === 0) throw new Error("summarize needs at least one round");
  const rates = rounds.map((r) => r.opsPerSec).sort((x, y) => x - y);
  const mid = rates.length >> 1;
  const median = rates.length % 2 === 1 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  return {
    median,
    min: rates[0]!,
    max: rates[rates.length - 1]!,
    totalOps: rounds.reduce((n, r) => n + r.ops, 0),
    totalMs: rounds.reduce((n, r) => n + r.elapsedMs, 0),
  };
}

/** `--name value` from argv, else the fallback. */
export function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v !== undefined ? v : fallback;
}

export function numberArg(name: string, fallback: number, min: number, max: number): number {
  const v = Number(argValue(name, String(fallback)));
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`--${name} must be a number in ${min}..${max}`);
  return v;
}

/** Renders rows as a fixed-width text table (first column left-aligned, the rest right-aligned). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Thousands-separated integer, for human-readable tables. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
