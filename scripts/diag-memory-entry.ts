// Diagnostic node entry (HAVEN_E2E_ENTRY=scripts/diag-memory-entry.ts): runs src/main.ts; SIGUSR2 writes a memory report.
// The report goes to HAVEN_DIAG_OUT as JSON: RSS and JSC heap figures before and after a full GC (the GC is skipped
// when the file HAVEN_DIAG_OUT.nogc exists, so a report mid-run leaves the node undisturbed), the biggest object
// types, mimalloc's committed bytes, and the anonymous/file-backed split of the resident pages. No message contents.
// With HAVEN_DIAG_TIMELINE_MS set, one JSON line of RSS / heap / external / mimalloc figures is appended to
// HAVEN_DIAG_OUT.timeline at that interval (what memory is made of during a burst, not only after it).
import { heapStats, memoryUsage as mimallocUsage } from "bun:jsc";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

const MIB = 1024 * 1024;
const TOP_TYPES = 25;
const out = process.env.HAVEN_DIAG_OUT;
if (out === undefined || out.length === 0) throw new Error("HAVEN_DIAG_OUT must name the report file");
const timelineMs = Number(process.env.HAVEN_DIAG_TIMELINE_MS ?? 0);

const mib = (n: number): number => Math.round((n / MIB) * 10) / 10;

/** Rss/Anonymous/file-backed totals from /proc/self/smaps_rollup (Linux), in MiB. */
function rollup(): Record<string, number> {
  const text = readFileSync("/proc/self/smaps_rollup", "utf8");
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rss: mib(kb("Rss") * 1024), anonymous: mib(kb("Anonymous") * 1024), fileBacked: mib((kb("Rss") - kb("Anonymous")) * 1024) };
}

function snapshot(): Record<string, unknown> {
  const m = process.memoryUsage();
  const h = heapStats();
  const mi = mimallocUsage();
  const types = Object.entries(h.objectTypeCounts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP_TYPES);
  return {
    rssMib: mib(m.rss),
    heapUsedMib: mib(m.heapUsed),
    heapTotalMib: mib(m.heapTotal),
    externalMib: mib(m.external),
    arrayBuffersMib: mib(m.arrayBuffers),
    jscHeapSizeMib: mib(h.heapSize),
    jscHeapCapacityMib: mib(h.heapCapacity),
    jscExtraMemoryMib: mib(h.extraMemorySize),
    objectCount: h.objectCount,
    protectedObjectCount: h.protectedObjectCount,
    mimallocCommitMib: mib(mi.currentCommit),
    mimallocCurrentMib: mib(mi.current),
    smaps: rollup(),
    topTypes: Object.fromEntries(types),
  };
}

await import("../src/main.ts");

process.on("SIGUSR2", () => {
  const before = snapshot();
  if (existsSync(`${out}.nogc`)) {
    writeFileSync(out, JSON.stringify({ execArgv: process.execArgv, before }, null, 2));
    return;
  }
  const t0 = performance.now();
  Bun.gc(true);
  const gcMs = Math.round(performance.now() - t0);
  const after = snapshot();
  writeFileSync(out, JSON.stringify({ execArgv: process.execArgv, before, gcMs, after }, null, 2));
});

if (timelineMs > 0) {
  const t0 = performance.now();
  setInterval(() => {
    const m = process.memoryUsage();
    const mi = mimallocUsage();
    const line = { t: Math.round(performance.now() - t0), rss: mib(m.rss), heap: mib(m.heapUsed), ext: mib(m.external), mi: mib(mi.current), ...rollup() };
    appendFileSync(`${out}.timeline`, JSON.stringify(line) + "\n");
  }, timelineMs).unref();
}
