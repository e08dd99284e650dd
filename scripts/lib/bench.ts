// Micro-benchmark helpers: a sequential warm-up + timed loop in ops/s, argument parsing, and table output.

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

/**
 * Runs `op` strictly one at a time (await each) so figures are per-core latency-bound throughput,
 * not concurrency. The clock is read every `CHECK_EVERY` ops to keep its cost out of fast cases.
 */
export async function measure(op: () => unknown | Promise<unknown>, opts: MeasureOptions): Promise<Measurement> {
  const CHECK_EVERY = 16;
  const warmEnd = performance.now() + opts.warmupMs;
  while (performance.now() < warmEnd) {
    for (let i = 0; i < CHECK_EVERY; i++) await op();
  }
  Bun.gc(true); // start the timed loop from a clean heap so one case's garbage is not billed to the next
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
