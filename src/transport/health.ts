// Liveness and readiness: readiness runs named checks (storage, disk space, event-loop lag), each time-bounded.
import { statfs } from "node:fs/promises";
import type { Clock } from "../runtime/clock.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { LagMonitor } from "./lag-monitor.ts";

export type CheckStatus = "pass" | "fail";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface HealthReport {
  status: CheckStatus;
  checks: CheckResult[];
}

/** One readiness check; `run` may throw or hang: both count as a failure. */
export interface HealthCheck {
  readonly name: string;
  run(): Promise<{ ok: boolean; detail: string }>;
}

export interface Health {
  ready(): Promise<HealthReport>;
}

export function storageCheck(driver: Pick<StorageDriver, "health">): HealthCheck {
  return { name: "storage", run: () => driver.health() };
}

/** Free space for unprivileged writes (bavail) under `dir` must stay above `minFreeBytes`. */
export function diskCheck(dir: string, minFreeBytes: number, statfsFn: typeof statfs = statfs): HealthCheck {
  return {
    name: "disk",
    async run() {
      const s = await statfsFn(dir);
      const free = Number(s.bavail) * Number(s.bsize);
      return { ok: free >= minFreeBytes, detail: `${free} bytes free, minimum ${minFreeBytes}` };
    },
  };
}

export function eventLoopCheck(monitor: Pick<LagMonitor, "lagMs">, maxLagMs: number): HealthCheck {
  return {
    name: "event_loop",
    async run() {
      const lag = Math.round(monitor.lagMs);
      return { ok: lag <= maxLagMs, detail: `lag ${lag} ms, maximum ${maxLagMs} ms` };
    },
  };
}

/** Check details are operator-facing; cap them so a driver message cannot bloat the response. */
const MAX_DETAIL_CHARS = 200;

export function createHealth(checks: readonly HealthCheck[], opts: { clock: Clock; timeoutMs?: number }): Health {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const runOne = async (check: HealthCheck): Promise<CheckResult> => {
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
      timer = opts.clock.setTimeout(() => resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
    });
    try {
      const r = await Promise.race([check.run(), timeout]);
      return { name: check.name, status: r.ok ? "pass" : "fail", detail: String(r.detail).slice(0, MAX_DETAIL_CHARS) };
    } catch (e) {
      const detail = e instanceof Error ? `${e.name}: ${e.message}` : "check failed";
      return { name: check.name, status: "fail", detail: detail.slice(0, MAX_DETAIL_CHARS) };
    } finally {
      if (timer !== undefined) opts.clock.clearTimeout(timer);
    }
  };
  return {
    async ready() {
      const results = await Promise.all(checks.map(runOne));
      return { status: results.every((r) => r.status === "pass") ? "pass" : "fail", checks: results };
    },
  };
}
