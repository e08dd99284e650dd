// Process figures for benchmarks: resident set size (now and peak) of a pid, read from /proc (Linux).
import { readFileSync } from "node:fs";

export interface RssFigures {
  rssMb: number;
  peakRssMb: number;
  /** Anonymous (heap, allocator) and file-backed (binary, mapped files) parts of rssMb. */
  anonMb: number;
  fileMb: number;
}

/** VmRSS and VmHWM of `pid` in MiB; NaN where /proc is unavailable. */
export function rssOf(pid: number): RssFigures {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024, anonMb: kb("RssAnon") / 1024, fileMb: (kb("RssFile") + kb("RssShmem")) / 1024 };
  } catch {
    return { rssMb: NaN, peakRssMb: NaN, anonMb: NaN, fileMb: NaN };
  }
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * CPU time (user + system, ms) `pid` has used so far, from /proc/<pid>/stat; NaN where unavailable.
 * CPU per request is the A/B figure that survives a noisy shared machine better than requests/s.
 */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name (which may contain spaces): utime is 14th, stime 15th overall.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SEC;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SEC = 100;
