// The `deliver` span: an outbound attempt joins the trace of the request that queued its event and tells the receiver
// (traceparent header); a real node's webhook for a traced forward lands in the caller's trace; with tracing off no header.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { Dispatcher, DistributedBreaker, SqliteEventQueue, SqliteWebhookStore, type NewDeliveryEvent } from "../../src/delivery/index.ts";
import { DeliveryEvents } from "../../src/node/delivery-events.ts";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { parseTraceparent } from "../../src/observability/trace-context.ts";
import { currentTraceparent, inSpan, startTracing, tracingEnabled } from "../../src/observability/tracing.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { startEndpointServer, type EndpointServer, type RecordedRequest } from "../support/endpoint-server.ts";
import { enrol, packVia } from "../e2e/helpers.ts";

const ADMIN_TOKEN = "tracing-deliver-admin-token-0123456789";
const SECRET = "webhook-secret-0123456789abcdef";

let receiver: OtlpReceiver;
let endpoint: EndpointServer;
const dirs: string[] = [];

beforeAll(() => {
  receiver = startOtlpReceiver();
  endpoint = startEndpointServer({ kind: "succeed" });
});

afterAll(async () => {
  receiver?.stop();
  await endpoint?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "haven-tracing-deliver-"));
  dirs.push(d);
  return d;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Requests that reached the endpoint at `path`. */
const arrivedAt = (path: string): RecordedRequest[] => endpoint.requests.filter((r) => r.path === path);

describe("Dispatcher deliver span (tracing on in-process)", () => {
  test("an attempt joins the event's trace as `deliver`, and the receiver is sent that span; untraced events start a trace", async () => {
    const tracing = startTracing({ tracesUrl: `${receiver.url}/v1/traces`, serviceName: "haven-deliver-test", exportDelayMs: 50 });
    const queue = new SqliteEventQueue({ path: join(tempDir(), "delivery.sqlite") });
    try {
      expect(tracingEnabled()).toBe(true);
      const traceId = "5bf92f3577b34da6a3ce929d0e0e4736";
      const queuedBy = "10f067aa0ba902b7";
      const ev = (id: string, over: Partial<NewDeliveryEvent>): NewDeliveryEvent => ({
        id,
        kind: "reply",
        mailbox: "did:example:m",
        partition: 0,
        url: `${endpoint.url}/unit/${id}`,
        body: new TextEncoder().encode("{}"),
        contentType: "application/json",
        ...over,
      });
      await queue.enqueue(ev("traced", { traceparent: `00-${traceId}-${queuedBy}-01` }));
      await queue.enqueue(ev("untraced", {}));
      const dispatcher = new Dispatcher({ queue, breaker: new DistributedBreaker({ nodeId: "n1", failureThreshold: 5, openMs: 60_000 }), callTimeoutMs: 5000 });
      expect(await dispatcher.runOnce()).toBe(2);
      await tracing.flush();

      const sent = parseTraceparent(arrivedAt("/unit/traced")[0]?.headers.traceparent)!;
      expect(sent).toBeDefined();
      expect(sent.traceId).toBe(traceId);
      expect(sent.sampled).toBe(true);
      await waitFor("the deliver span", () => receiver.spans.some((s) => s.traceId === traceId && s.name === "deliver"));
      const deliver = receiver.spans.find((s) => s.traceId === traceId && s.name === "deliver")!;
      expect(deliver.parentSpanId).toBe(queuedBy);
      expect(deliver.spanId).toBe(sent.parentSpanId);
      expect(deliver.attributeKeys).toEqual([]);

      const fresh = parseTraceparent(arrivedAt("/unit/untraced")[0]?.headers.traceparent)!;
      expect(fresh).toBeDefined();
      expect(fresh.traceId).not.toBe(traceId);
      await waitFor("the untraced event's deliver span", () => receiver.spans.some((s) => s.traceId === fresh.traceId && s.name === "deliver"));
      const root = receiver.spans.find((s) => s.traceId === fresh.traceId && s.name === "deliver")!;
      expect(root.spanId).toBe(fresh.parentSpanId);
      expect(root.parentSpanId ?? "").toBe("");
    } finally {
      queue.close();
      await tracing.stop();
    }
    expect(tracingEnabled()).toBe(false);
  }, 60_000);
});

describe("DeliveryEvents records the queuing span", () => {
  test("webhook events (also a coalesced window: its first forward's span) and replies carry the current traceparent; none outside a span or with tracing off", async () => {
    const clock = new ManualClock();
    const queue = new SqliteEventQueue({ path: join(tempDir(), "delivery.sqlite"), clock });
    const webhooks = new SqliteWebhookStore({ path: ":memory:", clock });
    for (const d of ["did:example:a", "did:example:b"]) await webhooks.put({ recipientDid: d, url: `${endpoint.url}/hook`, secret: SECRET });
    const plain = new DeliveryEvents({ queue, webhooks, partitions: 4, clock, coalesceMs: 0 });
    const coalescing = new DeliveryEvents({ queue, webhooks, partitions: 4, clock, coalesceMs: 1000 });
    const accepted = (events: DeliveryEvents, mailbox: string, dedupId: string) => events.messageAccepted({ mailbox, recipientDid: mailbox, dedupId, receivedAtMs: clock.nowMs() });
    const reply = (id: string) => plain.reply({ id, toDid: "did:example:c", url: `${endpoint.url}/reply`, body: new Uint8Array([1]), contentType: "application/json" });
    // Tracing off: nothing recorded even inside inSpan (it is then a plain call).
    await inSpan("receive", () => accepted(plain, "did:example:a", "off"));
    const tracing = startTracing({ tracesUrl: `${receiver.url}/v1/traces`, serviceName: "haven-deliver-test", exportDelayMs: 50 });
    try {
      const spansSeen: Record<string, string> = {};
      await inSpan("receive", async () => {
        spansSeen.direct = currentTraceparent()!;
        await accepted(plain, "did:example:a", "direct");
        await reply("reply:1");
      });
      await inSpan("receive", async () => {
        spansSeen.first = currentTraceparent()!;
        await accepted(coalescing, "did:example:b", "first");
      });
      await inSpan("receive", () => accepted(coalescing, "did:example:b", "second"));
      await accepted(plain, "did:example:a", "outside");
      clock.advance(1000); // closes the window
      await coalescing.flush();
      const got = new Map((await queue.due(clock.nowMs(), 100)).map((e) => [e.id, e.traceparent ?? null]));
      expect(got).toEqual(
        new Map([
          ["wh:off", null],
          ["wh:direct", spansSeen.direct!],
          ["reply:1", spansSeen.direct!],
          ["whc:first", spansSeen.first!],
          ["wh:outside", null],
        ]),
      );
    } finally {
      queue.close();
      webhooks.close();
      await tracing.stop();
    }
  });
});

async function startNode(env: Record<string, string>): Promise<HavenNode> {
  const base = loadConfig({ DATA_DIR: tempDir(), HOST: "127.0.0.1", ADMIN_TOKEN, ...env });
  const config: Config = { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
  return createNode(config, { logger: createLogger({ level: "silent" }) });
}

/** Enrols a client, registers its inbox DID's webhook at `path` on the endpoint, and forwards one message to it. */
async function forwardToWebhook(node: HavenNode, path: string, headers: Record<string, string>): Promise<void> {
  const r = await enrol(node);
  const put = await fetch(`${node.url}/admin/webhooks`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ recipient_did: r.inbox.did, url: `${endpoint.url}${path}`, secret: SECRET }),
  });
  expect(put.status).toBe(200);
  const { packed } = await packVia(new Agent(), r.inbox.did, "secret-content");
  const res = await fetch(node.url, { method: "POST", headers: { "content-type": ENCRYPTED, ...headers }, body: packed });
  expect(res.status).toBe(202);
}

describe("webhook of a traced forward (real single node)", () => {
  test("tracing on: a deliver span in the caller's trace, below receive, and the webhook carries it as traceparent", async () => {
    const node = await startNode({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "haven-test" });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    try {
      expect(tracingEnabled()).toBe(true);
      await forwardToWebhook(node, "/node/traced", { traceparent: `00-${traceId}-${callerSpan}-01` });
      await waitFor("the webhook call", () => arrivedAt("/node/traced").length > 0);
      const hook = arrivedAt("/node/traced")[0]!;
      expect(hook.headers["x-haven-signature"]).toBeDefined();
      const sent = parseTraceparent(hook.headers.traceparent)!;
      expect(sent).toBeDefined();
      expect(sent.traceId).toBe(traceId);

      const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
      await waitFor("receive and deliver spans", () => ["receive", "deliver"].every((n) => inTrace().some((s) => s.name === n)));
      const receive = inTrace().find((s) => s.name === "receive")!;
      const deliver = inTrace().find((s) => s.name === "deliver")!;
      expect(receive.parentSpanId).toBe(callerSpan);
      // Queued while the forward was handled: its deliver span hangs below that request's receive span.
      expect(deliver.parentSpanId).toBe(receive.spanId);
      expect(deliver.spanId).toBe(sent.parentSpanId);
    } finally {
      await node.stop();
    }
    expect(tracingEnabled()).toBe(false);
    const all = receiver.bodies.join("\n");
    expect(all).not.toContain("did:");
    expect(all).not.toContain("secret-content");
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(`127.0.0.1:${endpoint.port}`);
  }, 90_000);

  test("tracing off: the webhook goes out without a traceparent header, and nothing is exported", async () => {
    const before = receiver.bodies.length;
    const node = await startNode({});
    try {
      expect(tracingEnabled()).toBe(false);
      await forwardToWebhook(node, "/node/untraced", { traceparent: "00-11111111111111111111111111111111-2222222222222222-01" });
      await waitFor("the webhook call", () => arrivedAt("/node/untraced").length > 0);
      const hook = arrivedAt("/node/untraced")[0]!;
      expect(hook.headers["x-haven-signature"]).toBeDefined();
      expect(hook.headers.traceparent).toBeUndefined();
    } finally {
      await node.stop();
    }
    expect(receiver.bodies.length).toBe(before);
  }, 90_000);
});
