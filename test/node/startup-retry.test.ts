// retryStartup: a start-up step that fails (NATS briefly unable to answer) is retried with back-off, within a deadline.
import { describe, expect, it } from "bun:test";
import { retryStartup } from "../../src/node/startup-retry.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { systemClock } from "../../src/runtime/clock.ts";

const log = createLogger({ level: "silent" });

describe("retryStartup", () => {
  it("retries until the step succeeds, and returns its value", async () => {
    let calls = 0;
    const v = await retryStartup("step", async () => (++calls < 3 ? Promise.reject(new Error("not yet")) : "opened"), { clock: systemClock, log, minDelayMs: 1, maxDelayMs: 4 });
    expect(v).toBe("opened");
    expect(calls).toBe(3);
  });

  it("gives up with the last error once the deadline would pass", async () => {
    let calls = 0;
    const p = retryStartup("step", async () => Promise.reject(new Error(`failure ${++calls}`)), { clock: systemClock, log, deadlineMs: 50, minDelayMs: 5, maxDelayMs: 10 });
    await expect(p).rejects.toThrow(/failure \d+/);
    expect(calls).toBeGreaterThan(1);
  });

  it("rejects an out-of-range deadline", async () => {
    await expect(retryStartup("step", async () => 1, { clock: systemClock, log, deadlineMs: -1 })).rejects.toThrow(RangeError);
  });
});
