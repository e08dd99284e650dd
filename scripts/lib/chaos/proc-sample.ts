// One resource sample of a node process: RSS and open fds from /proc, plus the node's own /metrics process figures.
import { readdirSync } from "node:fs";
import { rssOf } from "../proc-stats.ts";

export interface ProcSample {
  /** VmRSS (MiB) from /proc/<pid>/status; NaN when the process is gone. */
  rssMb: number;
  /** Entries in /proc/<pid>/fd; NaN when unreadable. */
  fds: number;
  /** From the node's /metrics (prom-client defaults), NaN when absent. */
  metricsRssMb: number;
  metricsOpenFds: number;
  heapUsedMb: number;
}

export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** The value of an unlabelled metric line `name value` in Prometheus text, NaN when absent. */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

export async function sampleNode(pid: number, baseUrl: string): Promise<ProcSample> {
  const mb = 1024 * 1024;
  let text = "";
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
    text = res.status === 200 ? await res.text() : "";
  } catch {
    // a node that does not answer gives NaN figures, which the growth check drops
  }
  return {
    rssMb: rssOf(pid).rssMb,
    fds: fdCount(pid),
    metricsRssMb: metricValue(text, "process_resident_memory_bytes") / mb,
    metricsOpenFds: metricValue(text, "process_open_fds"),
    heapUsedMb: metricValue(text, "nodejs_heap_size_used_bytes") / mb,
  };
}
