// Process figures for benchmarks: resident set size (now and peak) of a pid, read from /proc (Linux).
import { readFileSync } from "node:fs";

export interface RssFigures {
  rssMb: number;
  peakRssMb: number;
}

/** VmRSS and VmHWM of `pid` in MiB; NaN where /proc is unavailable. */
export function rssOf(pid: number): RssFigures {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 };
  } catch {
    return { rssMb: NaN, peakRssMb: NaN };
  }
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
