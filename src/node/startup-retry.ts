// Start-up steps that need NATS (opening a bucket, a stream) are retried with back-off for a bounded time instead of failing the start.
import type { Logger } from "../observability/logger.ts";
import { sleep, type Clock } from "../runtime/clock.ts";

export interface StartupRetryOptions {
  clock: Clock;
  log: Logger;
  /** Give up (rethrow the last error) once this much time has passed since the first attempt. Default 60_000. */
  deadlineMs?: number;
  /** First back-off; doubles up to maxDelayMs. Defaults 100 and 2000. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Why: with one NATS server down (or its JetStream meta leader being re-elected), creating or binding a replicated
 * bucket can time out for a few seconds although the cluster keeps its quorum. A node that exits then relies on its
 * supervisor's restart loop; retrying here keeps the start bounded, logged and independent of the deployment.
 */
export async function retryStartup<T>(what: string, fn: () => Promise<T>, o: StartupRetryOptions): Promise<T> {
  const deadlineMs = o.deadlineMs ?? 60_000;
  const maxDelayMs = o.maxDelayMs ?? 2000;
  if (!(deadlineMs >= 0 && deadlineMs <= 3_600_000)) throw new RangeError("deadlineMs must be within 0..3600000");
  const startedMs = o.clock.monotonicMs();
  for (let attempt = 1, delayMs = o.minDelayMs ?? 100; ; attempt++, delayMs = Math.min(maxDelayMs, delayMs * 2)) {
    try {
      return await fn();
    } catch (e) {
      const elapsedMs = o.clock.monotonicMs() - startedMs;
      if (elapsedMs + delayMs > deadlineMs) throw e;
      o.log.warn({ step: what, attempt, err: e instanceof Error ? e.message : "unknown" }, "start-up step failed; retrying");
      await sleep(o.clock, delayMs);
    }
  }
}
