// Environment a node process must be started with (read by the runtime before any of our code runs).

/**
 * JavaScriptCore sizes its heap from the machine's RAM (24 GiB on the bench machine) and lets garbage pile up
 * accordingly: RSS peaked at ~196 MiB during a 100k-forward burst with a ~60 MiB live heap. Telling it the machine
 * has 512 MiB (4 x the default MEMORY_SOFT_LIMIT_BYTES) makes it collect sooner: peak 162-165 MiB in the same run
 * (docs/BENCHMARKS.md). It is only a hint for the collector, not a limit: a node with a larger live set still runs;
 * raise it with the soft limit. Used by `bun start`, the Dockerfile, the local cluster runner and the test harness.
 */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_forceRAMSize: String(512 * 1024 * 1024),
};
