// scripts/admin.ts against a live admin handler: tables for webhooks, DLQ and breakers; replay; drain reaches POST /admin/drain (404 where the node offers none); bad token exits 2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createAdminHandler } from "../../src/admin/index.ts";
import { Secret } from "../../src/config/secret.ts";
import { DistributedBreaker, SqliteEventQueue, SqliteWebhookStore } from "../../src/delivery/index.ts";

const TOKEN = "cli-token-0123456789abcdef";
const webhooks = new SqliteWebhookStore({ path: ":memory:" });
const queue = new SqliteEventQueue({ path: ":memory:" });
const breaker = new DistributedBreaker({ nodeId: "n1" });
let server: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  const handler = createAdminHandler({ token: new Secret(TOKEN), webhooks, dlq: queue, queue, breaker });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => (await handler(req)) ?? new Response("nope", { status: 404 }) });
  await webhooks.put({ recipientDid: "did:example:alice", url: "https://hooks.example/a", secret: "super-secret-value-123" });
  await queue.enqueue({ id: "ev-1", kind: "webhook", mailbox: "did:example:m", partition: 0, url: "https://hooks.example/a", body: new Uint8Array([1]), contentType: "application/json" });
  await queue.deadLetter("ev-1", "attempts_exhausted_http_503", 5);
});
afterAll(() => {
  server.stop(true);
  webhooks.close();
  queue.close();
  breaker.close();
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bun", "scripts/admin.ts", ...args], {
    env: { ...process.env, HAVEN_URL: `http://127.0.0.1:${server.port}`, ADMIN_TOKEN: TOKEN, ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

test("webhooks list shows DIDs and URLs, never secrets", async () => {
  const r = await cli(["webhooks", "list"]);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/RECIPIENT DID\s+URL/);
  expect(r.out).toContain("did:example:alice");
  expect(r.out).not.toContain("super-secret");
});

test("webhooks put reads the secret from WEBHOOK_SECRET; delete", async () => {
  expect((await cli(["webhooks", "put", "did:example:bob", "https://b.example/h"], { WEBHOOK_SECRET: "another-secret-456789" })).out).toContain("registered did:example:bob");
  expect((await webhooks.resolveSecret("did:example:bob"))?.reveal()).toBe("another-secret-456789");
  expect((await cli(["webhooks", "delete", "did:example:bob"])).out).toContain("deleted");
  expect(await webhooks.get("did:example:bob")).toBeNull();
});

test("dlq list and replay", async () => {
  const list = await cli(["dlq", "list", "--all"]);
  expect(list.out).toMatch(/ev-1\s+webhook\s+https:\/\/hooks.example:443\s+5\s+attempts_exhausted_http_503/);
  expect((await cli(["dlq", "replay"])).code).toBe(2);
  expect((await cli(["dlq", "replay", "ev-1"])).out).toContain("replayed 1 event(s)");
  expect(await queue.count()).toBe(0);
});

test("breaker status, drain where the node offers none, wrong token", async () => {
  expect((await cli(["breaker", "status"])).out).toContain("mode: local");
  const drain = await cli(["drain"]);
  expect(drain.code).toBe(2);
  expect(drain.err).toContain("/admin/drain -> 404");
  const bad = await cli(["webhooks", "list"], { ADMIN_TOKEN: "wrong" });
  expect(bad.code).toBe(2);
  expect(bad.err).toContain("403");
  const status = await cli(["status"]);
  expect(status.code).toBe(2);
  expect(status.err).toContain("not running in cluster mode");
});

test("breaker reset <url>: an open breaker is closed; status shows it closed; a missing argument is a usage error", async () => {
  const dest = "https://flaky.example:443";
  for (let i = 0; i < 5; i++) {
    const p = await breaker.acquire(dest);
    if (!p.admitted) throw new Error("expected admission");
    await breaker.release(p.permit, false);
  }
  expect((await breaker.snapshot(dest)).phase).toBe("open");
  const r = await cli(["breaker", "reset", "https://flaky.example/hooks/1"]);
  expect(r.code).toBe(0);
  expect(r.out).toContain(`breaker of ${dest} closed on this node only`);
  expect(r.out).toContain("it was open");
  expect((await breaker.snapshot(dest)).phase).toBe("closed");
  expect((await cli(["breaker", "status", dest])).out).toMatch(/https:\/\/flaky.example:443\s+closed/);
  const usage = await cli(["breaker", "reset"]);
  expect(usage.code).toBe(2);
  expect(usage.err).toContain("usage: breaker reset");
});
