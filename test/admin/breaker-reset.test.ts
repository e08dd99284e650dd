// POST /admin/breakers/reset: force-closes a breaker with one CAS write on the shared KV record (every node sees it), or the node's in-memory fallback while KV is down; logged/counted through onBreakerReset.
import { describe, expect, test } from "bun:test";
import { createAdminHandler } from "../../src/admin/index.ts";
import { Secret } from "../../src/config/secret.ts";
import { DistributedBreaker, KvBreakerStore, SqliteEventQueue, SqliteWebhookStore, destinationOf, type BreakerResetResult, type BreakerTransition } from "../../src/delivery/index.ts";
import { ManualClock, systemClock } from "../../src/runtime/clock.ts";
import { startNatsServer } from "../support/nats-cluster.ts";
import { connectNats, freshBucket, nextStatus } from "../delivery/helpers.ts";

const TOKEN = "reset-token-0123456789abcdef";
const THRESHOLD = 3;
const DEST = destinationOf("https://down.example/hook");

/** An admin handler over `breaker`; returns a caller and the resets it reported. */
function adminFor(breaker: DistributedBreaker) {
  const webhooks = new SqliteWebhookStore({ path: ":memory:" });
  const queue = new SqliteEventQueue({ path: ":memory:" });
  const resets: BreakerResetResult[] = [];
  const handler = createAdminHandler({ token: new Secret(TOKEN), webhooks, dlq: queue, queue, breaker, onBreakerReset: (r) => resets.push(r) });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await handler(
      new Request(`http://haven.test${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    if (res === undefined) throw new Error("not an admin path");
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  return { call, resets, close: () => (webhooks.close(), queue.close()) };
}

async function failUntilOpen(b: DistributedBreaker): Promise<void> {
  for (let i = 0; i < THRESHOLD; i++) {
    const p = await b.acquire(DEST);
    if (!p.admitted) throw new Error(`expected admission, got ${p.reason}`);
    await b.release(p.permit, false);
  }
  expect((await b.snapshot(DEST)).phase).toBe("open");
}

describe("admin breaker reset", () => {
  test("local breaker (single node): open -> reset -> closed and admitting; validation; the reset is reported once", async () => {
    const clock = new ManualClock();
    const transitions: BreakerTransition[] = [];
    const breaker = new DistributedBreaker({ nodeId: "n1", clock, failureThreshold: THRESHOLD, openMs: 300_000, onTransition: (t) => transitions.push(t) });
    const admin = adminFor(breaker);
    try {
      await failUntilOpen(breaker);
      expect((await breaker.acquire(DEST)).admitted).toBe(false);
      const r = await admin.call("POST", "/admin/breakers/reset", { destination: "https://down.example/other/path" });
      expect(r).toEqual({ status: 200, json: { destination: DEST, store: "local", previous_phase: "open", previous_failures: 0, phase: "closed" } });
      expect(admin.resets).toEqual([{ destination: DEST, store: "local", from: "open", failures: 0 }]);
      expect(transitions.at(-1)).toMatchObject({ destination: DEST, from: "open", to: "closed", reason: "reset", store: "local" });
      expect((await breaker.snapshot(DEST)).phase).toBe("closed");
      expect((await breaker.acquire(DEST)).admitted).toBe(true);

      expect((await admin.call("GET", "/admin/breakers/reset")).status).toBe(405);
      expect((await admin.call("POST", "/admin/breakers/reset", {})).status).toBe(400);
      expect((await admin.call("POST", "/admin/breakers/reset", { destination: "ftp://x" })).status).toBe(400);
      expect(admin.resets.length).toBe(1);
    } finally {
      breaker.close();
      admin.close();
    }
  });

  test("shared KV record: opened by node A, reset through node B's admin API -> A reads it closed and admits; KV down -> B resets its fallback only", async () => {
    const server = await startNatsServer();
    const ncA = await connectNats(server.url);
    const ncB = await connectNats(server.url);
    const bucket = freshBucket();
    const clock = new ManualClock();
    const tB: BreakerTransition[] = [];
    const a = new DistributedBreaker({ nodeId: "a", shared: await KvBreakerStore.open(ncA, { bucket, timeoutMs: 300, clock: systemClock }), clock, failureThreshold: THRESHOLD, openMs: 300_000 });
    const b = new DistributedBreaker({
      nodeId: "b",
      shared: await KvBreakerStore.open(ncB, { bucket, timeoutMs: 300, clock: systemClock }),
      clock,
      failureThreshold: THRESHOLD,
      openMs: 300_000,
      onTransition: (t) => tB.push(t),
    });
    const admin = adminFor(b);
    try {
      await failUntilOpen(a);
      expect((await b.acquire(DEST)).admitted).toBe(false); // B sees A's opening: one shared record

      const r = await admin.call("POST", "/admin/breakers/reset", { destination: DEST });
      expect(r.json).toMatchObject({ destination: DEST, store: "shared", previous_phase: "open", phase: "closed" });
      expect(tB.at(-1)).toMatchObject({ from: "open", to: "closed", reason: "reset", store: "shared", nodeId: "b" });
      expect((await a.snapshot(DEST)).phase).toBe("closed");
      const p = await a.acquire(DEST);
      expect(p.admitted).toBe(true);
      if (p.admitted) await a.release(p.permit, true);

      // A second reset of a closed breaker changes nothing and reports no transition.
      const transitionsBefore = tB.length;
      expect((await admin.call("POST", "/admin/breakers/reset", { destination: DEST })).json).toMatchObject({ store: "shared", previous_phase: "closed" });
      expect(tB.length).toBe(transitionsBefore);

      // KV unreachable: B falls back to its in-memory breaker; a reset closes that one and says so.
      const down = nextStatus(ncB, "disconnect");
      await server.servers[0]!.kill();
      await down;
      for (let i = 0; i < 20 && b.mode === "shared"; i++) {
        const q = await b.acquire(DEST);
        if (q.admitted) await b.cancel(q.permit); // the call that switched to fallback is not made
      }
      expect(b.mode).toBe("local");
      for (let i = 0; i < THRESHOLD + 2; i++) {
        const q = await b.acquire(DEST);
        if (!q.admitted) break;
        await b.release(q.permit, false);
      }
      expect((await b.snapshot(DEST)).phase).toBe("open");
      const local = await admin.call("POST", "/admin/breakers/reset", { destination: DEST });
      expect(local.json).toMatchObject({ store: "local", previous_phase: "open", phase: "closed" });
      expect((await b.snapshot(DEST)).phase).toBe("closed");
      expect(admin.resets.map((x) => x.store)).toEqual(["shared", "shared", "local"]);
    } finally {
      a.close();
      b.close();
      admin.close();
      await ncA.close().catch(() => {});
      await ncB.close().catch(() => {});
      await server.stop();
    }
  }, 60_000);
});
