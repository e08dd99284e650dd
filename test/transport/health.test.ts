// Liveness and readiness: each check reported, 503 when one fails, throws or hangs.
import { afterEach, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/index.ts";
import { createHealth, diskCheck, eventLoopCheck, storageCheck, type HealthCheck } from "../../src/transport/health.ts";
import { LagMonitor } from "../../src/transport/lag-monitor.ts";
import { startApp, type Started } from "./helpers.ts";

let s: Started | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

function switchableStorage() {
  const state = { ok: true };
  return { state, check: storageCheck({ health: async () => ({ ok: state.ok, detail: state.ok ? "writable" : "disk I/O error" }) }) };
}

describe("health endpoints", () => {
  test("/health/live is 200", async () => {
    s = startApp();
    const res = await fetch(s.base + "/health/live");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "pass" });
  });

  test("/health/ready lists every check and turns 503 when storage fails", async () => {
    const storage = switchableStorage();
    const fakeStatfs = (async () => ({ bavail: 1000, bsize: 4096 })) as unknown as Parameters<typeof diskCheck>[2];
    const lag = { lagMs: 3 };
    s = startApp({ checks: [storage.check, diskCheck("/data", 1024, fakeStatfs), eventLoopCheck(lag, 500)] });

    const ok = await fetch(s.base + "/health/ready");
    expect(ok.status).toBe(200);
    const report = (await ok.json()) as { status: string; checks: { name: string; status: string; detail: string }[] };
    expect(report.status).toBe("pass");
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([["storage", "pass"], ["disk", "pass"], ["event_loop", "pass"]]);

    storage.state.ok = false;
    const bad = await fetch(s.base + "/health/ready");
    expect(bad.status).toBe(503);
    const badReport = (await bad.json()) as typeof report;
    expect(badReport.status).toBe("fail");
    expect(badReport.checks.find((c) => c.name === "storage")).toEqual({ name: "storage", status: "fail", detail: "disk I/O error" });
  });

  test("readiness fails while the app is closing", async () => {
    s = startApp();
    void s.app.close();
    // The server stops listening, so check through the in-process handler.
    const res = await s.app.handle(new Request("http://localhost/health/ready"));
    expect(res.status).toBe(503);
  });
});

describe("checks", () => {
  const clock = () => new ManualClock();

  test("disk: below the threshold fails", async () => {
    const statfs = (async () => ({ bavail: 10, bsize: 100 })) as unknown as Parameters<typeof diskCheck>[2];
    const h = createHealth([diskCheck("/d", 1001, statfs)], { clock: clock() });
    expect((await h.ready()).checks[0]!.status).toBe("fail");
    const h2 = createHealth([diskCheck("/d", 1000, statfs)], { clock: clock() });
    expect((await h2.ready()).checks[0]!.status).toBe("pass");
  });

  test("disk: real statfs on the working directory passes a 1-byte threshold", async () => {
    const h = createHealth([diskCheck(".", 1)], { clock: clock() });
    expect((await h.ready()).status).toBe("pass");
  });

  test("event loop: lag above the bound fails", async () => {
    const h = createHealth([eventLoopCheck({ lagMs: 900 }, 500)], { clock: clock() });
    expect((await h.ready()).checks[0]).toEqual({ name: "event_loop", status: "fail", detail: "lag 900 ms, maximum 500 ms" });
  });

  test("a check that throws fails with its error name; one that hangs times out", async () => {
    const c = clock();
    const throwing: HealthCheck = { name: "t", run: async () => Promise.reject(new TypeError("nope")) };
    const hanging: HealthCheck = { name: "h", run: () => new Promise(() => {}) };
    const h = createHealth([throwing, hanging], { clock: c, timeoutMs: 1000 });
    const pending = h.ready();
    await c.advanceAsync(1000);
    const report = await pending;
    expect(report.status).toBe("fail");
    expect(report.checks[0]).toEqual({ name: "t", status: "fail", detail: "TypeError: nope" });
    expect(report.checks[1]).toEqual({ name: "h", status: "fail", detail: "timed out after 1000 ms" });
  });

  test("LagMonitor reports the largest recent lateness of its timer", () => {
    // A clock whose timers the test fires by hand, at a time of its choosing.
    let now = 0;
    let pending: (() => void) | undefined;
    const clock = {
      nowMs: () => now,
      monotonicMs: () => now,
      setTimeout: (fn: () => void) => ((pending = fn), {}),
      clearTimeout: () => void (pending = undefined),
    };
    const m = new LagMonitor({ clock, intervalMs: 100, window: 2 });
    m.start();
    expect(m.lagMs).toBe(0);
    now = 100; // on time
    pending!();
    expect(m.lagMs).toBe(0);
    now = 450; // due at 200: 250 ms late
    pending!();
    expect(m.lagMs).toBe(250);
    now = 550; // on time; the 250 ms sample is still in the window of 2
    pending!();
    expect(m.lagMs).toBe(250);
    now = 650;
    pending!();
    expect(m.lagMs).toBe(0);
    m.stop();
    expect(pending).toBeUndefined();
  });
});
