// Delivery scenario 5 (real node process): an always-failing endpoint gets exactly max-attempts attempts, the event lands in the DLQ, and a replay through the admin CLI delivers it once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startEndpointServer, type EndpointServer } from "../support/endpoint-server.ts";
import { admin, ADMIN_TOKEN, Agent, forward, mailboxWithWebhook, startSingle, waitFor, webhookOf, type HavenNodes } from "./support.ts";

const MAX_ATTEMPTS = 4;
let haven: HavenNodes;
let endpoint: EndpointServer;

beforeAll(async () => {
  endpoint = startEndpointServer({ kind: "fail", status: 503 });
  // A threshold above the attempt count: this scenario is about retries, not the breaker.
  haven = await startSingle({ DELIVERY_MAX_ATTEMPTS: String(MAX_ATTEMPTS), DELIVERY_RETRY_BASE_MS: "50", DELIVERY_RETRY_CAP_MS: "2000", BREAKER_FAILURE_THRESHOLD: "100" });
}, 30_000);

afterAll(async () => {
  await haven?.stop();
  await endpoint?.stop();
});

describe("scenario 5: retries, DLQ, replay", () => {
  test("always failing -> exactly max-attempts attempts -> DLQ -> `bun run admin -- dlq replay` delivers it once", async () => {
    const node = haven.nodes[0]!;
    const m = await mailboxWithWebhook(node, `${endpoint.url}/hook`);
    await forward(node.ref, m, new Agent(), "hello");

    await waitFor("the event is dead-lettered", async () => (await admin(node, "GET", "/admin/dlq")).json.total === 1);
    const dlq = (await admin(node, "GET", "/admin/dlq")).json;
    expect(dlq.items[0].attempts).toBe(MAX_ATTEMPTS);
    expect(dlq.items[0].reason).toBe("attempts_exhausted_http_503");
    expect(dlq.items[0].kind).toBe("webhook");
    // Every attempt was the same event: same idempotency key, signed, ids and counts only.
    expect(endpoint.requests.length).toBe(MAX_ATTEMPTS);
    const ids = new Set(endpoint.requests.map((r) => webhookOf(r).event_id));
    expect(ids.size).toBe(1);
    expect(dlq.items[0].id).toBe([...ids][0]);
    expect(webhookOf(endpoint.requests[0]!).message_count).toBe(1);
    console.log(`[scenario5] gaps between attempts (ms, full jitter under ceilings 50, 100, 200): ${gaps(endpoint).join(", ")}`);

    // Dead-lettered means nothing is pending: no attempt follows on its own.
    expect((await admin(node, "GET", "/admin/queue")).json).toMatchObject({ pending: 0, dead_lettered: 1 });

    endpoint.setMode({ kind: "succeed" });
    const replayAtMs = Date.now();
    const cli = Bun.spawn(["bun", "run", "scripts/admin.ts", "dlq", "replay", "--all"], {
      cwd: `${import.meta.dir}/../..`,
      env: { ...process.env, HAVEN_URL: node.proc.url, ADMIN_TOKEN },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = await new Response(cli.stdout).text();
    expect(await cli.exited).toBe(0);
    const cliMs = Date.now() - replayAtMs;
    expect(out).toContain("replayed 1 event(s)");

    await waitFor("the replayed event is delivered", async () => (await admin(node, "GET", "/admin/queue")).json.node.outcomes.delivered === 1);
    // The endpoint's arrival time of the replayed request (wall clock, like replayAtMs); "n/a" if it is missing.
    const replayedAt = endpoint.requests[MAX_ATTEMPTS]?.atMs;
    console.log(`recovery: \`dlq replay --all\` started -> CLI exited=${cliMs} ms`);
    console.log(`recovery: \`dlq replay --all\` started -> replayed event delivered=${replayedAt === undefined ? "n/a" : replayedAt - replayAtMs} ms`);
    const q = (await admin(node, "GET", "/admin/queue")).json;
    expect(q).toMatchObject({ pending: 0, dead_lettered: 0 });
    expect(endpoint.requests.length).toBe(MAX_ATTEMPTS + 1);
    expect(endpoint.successes().map((r) => r.idempotencyKey)).toEqual([...ids]);
  }, 60_000);
});

function gaps(e: EndpointServer): number[] {
  const at = e.requests.map((r) => r.atMs);
  return at.slice(1).map((t, i) => t - at[i]!);
}
