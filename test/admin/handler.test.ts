// Admin handler: token gating (404/401/403), webhook CRUD with validation and no secret leaks, DLQ list and replay, breaker status.
import { afterEach, describe, expect, test } from "bun:test";
import { Secret } from "../../src/config/secret.ts";
import { createAdminHandler } from "../../src/admin/index.ts";
import { DistributedBreaker, SqliteEventQueue, SqliteWebhookStore, destinationOf } from "../../src/delivery/index.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

const TOKEN = "admin-token-0123456789abcdef";
const SECRET = "whsec-0123456789-abcdef";
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function setup(token: string | null = TOKEN) {
  const clock = new ManualClock({ startMs: 1_700_000_000_000 });
  const webhooks = new SqliteWebhookStore({ path: ":memory:", clock });
  const queue = new SqliteEventQueue({ path: ":memory:", clock });
  const breaker = new DistributedBreaker({ nodeId: "n1", clock, failureThreshold: 2, openMs: 60_000 });
  closers.push(() => (webhooks.close(), queue.close(), breaker.close()));
  const handler = createAdminHandler({ token: token === null ? null : new Secret(token), webhooks, dlq: queue, queue, breaker, clock });
  const call = async (method: string, path: string, body?: unknown, auth: string | null = `Bearer ${TOKEN}`) => {
    const headers: Record<string, string> = {};
    if (auth !== null) headers.authorization = auth;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await handler(new Request(`http://haven.test${path}`, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) }));
    if (res === undefined) return { status: 0, text: "", json: null as any };
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null, headers: res.headers };
  };
  return { clock, webhooks, queue, breaker, handler, call };
}

describe("admin handler", () => {
  test("no token configured: every /admin path is 404; other paths are not ours", async () => {
    const { call } = setup(null);
    expect((await call("GET", "/admin/webhooks")).status).toBe(404);
    expect((await call("PUT", "/admin/dlq/replay", { all: true })).status).toBe(404);
    expect((await call("GET", "/health")).status).toBe(0);
  });

  test("bearer token: 401 without, 403 when wrong, before routing", async () => {
    const { call } = setup();
    const none = await call("GET", "/admin/nope", undefined, null);
    expect(none.status).toBe(401);
    expect(none.headers?.get("www-authenticate")).toContain("Bearer");
    expect((await call("GET", "/admin/webhooks", undefined, "Bearer wrong")).status).toBe(403);
    expect((await call("GET", "/admin/webhooks", undefined, `Bearer ${TOKEN}x`)).status).toBe(403);
    expect((await call("GET", "/admin/webhooks", undefined, `Basic ${TOKEN}`)).status).toBe(401);
    expect((await call("GET", "/admin/webhooks")).status).toBe(200);
    expect((await call("GET", "/admin/nope")).status).toBe(404);
    expect((await call("POST", "/admin/webhooks", {})).status).toBe(405);
  });

  test("webhooks: put, get, list, delete; validation reasons; the secret never comes back", async () => {
    const { call } = setup();
    const put = await call("PUT", "/admin/webhooks", { recipient_did: "did:example:alice", url: "https://hooks.example/a", secret: SECRET });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ recipient_did: "did:example:alice", url: "https://hooks.example/a", created_at: "2023-11-14T22:13:20.000Z", updated_at: "2023-11-14T22:13:20.000Z" });
    const cases: Array<[unknown, number, string]> = [
      [{ recipient_did: "did:example:a", url: "ftp://x.example/", secret: SECRET }, 400, "scheme"],
      [{ recipient_did: "did:example:a", url: "https://x.example/", secret: "short" }, 400, "secret must be"],
      [{ recipient_did: "nope", url: "https://x.example/", secret: SECRET }, 400, "recipient_did"],
      [{ recipient_did: "did:example:a", url: "https://x.example/" }, 400, "secret is required"],
      ["{not json", 400, "JSON"],
      [[1, 2], 400, "object"],
    ];
    for (const [body, status, reason] of cases) {
      const r = await call("PUT", "/admin/webhooks", body);
      expect(r.status).toBe(status);
      expect(r.json.reason).toContain(reason);
      expect(r.text).not.toContain(SECRET);
    }
    const single = await call("GET", "/admin/webhooks?recipient_did=did:example:alice");
    expect(single.json.url).toBe("https://hooks.example/a");
    const list = await call("GET", "/admin/webhooks?limit=10");
    expect(list.json.items.map((w: any) => w.recipient_did)).toEqual(["did:example:alice"]);
    expect(list.text + single.text).not.toContain(SECRET);
    expect((await call("GET", "/admin/webhooks?limit=0")).status).toBe(400);
    expect((await call("DELETE", "/admin/webhooks?recipient_did=did:example:alice")).status).toBe(204);
    expect((await call("DELETE", "/admin/webhooks", { recipient_did: "did:example:alice" })).status).toBe(404);
    expect((await call("GET", "/admin/webhooks?recipient_did=did:example:alice")).status).toBe(404);
  });

  test("dlq: paged list without bodies, replay by ids and all, body validation", async () => {
    const { call, queue, clock } = setup();
    for (let i = 0; i < 3; i++) {
      await queue.enqueue({ id: `ev${i}`, kind: "push", mailbox: "did:example:m", partition: 0, url: "https://agent.example/didcomm", body: new TextEncoder().encode("SECRET-CONTENT"), contentType: "application/didcomm-encrypted+json" });
      await queue.deadLetter(`ev${i}`, "attempts_exhausted_http_503", 5);
    }
    const p1 = await call("GET", "/admin/dlq?limit=2");
    expect(p1.status).toBe(200);
    expect(p1.json.total).toBe(3);
    expect(p1.json.items.map((d: any) => [d.id, d.attempts, d.reason, d.destination])).toEqual([
      ["ev0", 5, "attempts_exhausted_http_503", "https://agent.example:443"],
      ["ev1", 5, "attempts_exhausted_http_503", "https://agent.example:443"],
    ]);
    expect(p1.text).not.toContain("SECRET-CONTENT");
    const p2 = await call("GET", `/admin/dlq?limit=2&after=${p1.json.next}`);
    expect(p2.json.items.map((d: any) => d.id)).toEqual(["ev2"]);
    expect(p2.json.next).toBeNull();
    for (const bad of [{}, { all: false }, { ids: [] }, { all: true, ids: ["x"] }, { ids: [1] }]) {
      expect((await call("POST", "/admin/dlq/replay", bad)).status).toBe(400);
    }
    expect((await call("POST", "/admin/dlq/replay", { ids: ["ev1", "missing"] })).json).toEqual({ replayed: 1 });
    expect((await call("POST", "/admin/dlq/replay", { all: true })).json).toEqual({ replayed: 2 });
    const due = await queue.due(clock.nowMs(), 10);
    expect(due.map((e) => [e.id, e.attempts]).sort()).toEqual([["ev0", 0], ["ev1", 0], ["ev2", 0]]);
    expect((await call("GET", "/admin/queue")).json).toEqual({ pending: 3, dead_lettered: 0 });
  });

  test("breakers: lists known destinations with phase; one destination by URL", async () => {
    const { call, breaker } = setup();
    const dest = destinationOf("https://down.example/hook");
    for (let i = 0; i < 2; i++) {
      const a = await breaker.acquire(dest);
      if (!a.admitted) throw new Error("expected admission");
      await breaker.release(a.permit, false);
    }
    const all = await call("GET", "/admin/breakers");
    expect(all.json.mode).toBe("local");
    expect(all.json.items).toEqual([{ destination: dest, store: "local", phase: "open", failures: 0, in_flight: 0, probe_held: false, opened_at: "2023-11-14T22:13:20.000Z" }]);
    const one = await call("GET", `/admin/breakers?destination=${encodeURIComponent("https://ok.example/x")}`);
    expect(one.json.items[0].phase).toBe("closed");
    expect((await call("GET", "/admin/breakers?destination=ftp://x")).status).toBe(400);
  });
});
