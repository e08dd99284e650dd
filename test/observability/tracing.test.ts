// A real node exporting spans over OTLP/HTTP to a receiver in this test: a forward with a traceparent yields
// receive/unpack/store spans in the caller's trace, without DIDs or contents; with the OTEL_* vars unset nothing is sent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { tracingEnabled } from "../../src/observability/tracing.ts";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { enrol, packVia } from "../e2e/helpers.ts";

let receiver: OtlpReceiver;
const dirs: string[] = [];

beforeAll(() => {
  receiver = startOtlpReceiver();
});

afterAll(() => {
  receiver?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startNode(env: Record<string, string>): Promise<HavenNode> {
  const dir = mkdtempSync(join(tmpdir(), "haven-tracing-"));
  dirs.push(dir);
  const base = loadConfig({ DATA_DIR: dir, HOST: "127.0.0.1", ...env });
  const config: Config = { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
  return createNode(config, { logger: createLogger({ level: "silent" }) });
}

async function forward(node: HavenNode, traceparent: string): Promise<void> {
  const r = await enrol(node);
  const { packed } = await packVia(new Agent(), r.inbox.did, "secret-content");
  const res = await fetch(node.url, { method: "POST", headers: { "content-type": ENCRYPTED, traceparent }, body: packed });
  expect(res.status).toBe(202);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe("OpenTelemetry export", () => {
  test("receiver.spans of a forward continue the incoming traceparent and reach the OTLP receiver", async () => {
    const node = await startNode({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "haven-test" });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    try {
      expect(tracingEnabled()).toBe(true);
      await forward(node, `00-${traceId}-${callerSpan}-01`);
      const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
      await waitFor("receive, unpack and store spans", () => ["receive", "unpack", "store"].every((n) => inTrace().some((s) => s.name === n)));
      const byName = (n: string) => inTrace().find((s) => s.name === n)!;
      // receive is the caller's child; the stages hang below it.
      expect(byName("receive").parentSpanId).toBe(callerSpan);
      expect(byName("unpack").parentSpanId).toBe(byName("receive").spanId);
      expect(byName("store").parentSpanId).toBe(byName("receive").spanId);
    } finally {
      await node.stop();
    }
    expect(tracingEnabled()).toBe(false);
    const all = receiver.bodies.join("\n");
    expect(all).not.toContain("did:");
    expect(all).not.toContain("secret-content");
    expect(all).toContain("haven-test");
  }, 60_000);

  test("with the OTEL_* variables unset no span is exported", async () => {
    const before = receiver.bodies.length;
    const node = await startNode({});
    try {
      expect(tracingEnabled()).toBe(false);
      await forward(node, "00-11111111111111111111111111111111-2222222222222222-01");
    } finally {
      await node.stop();
    }
    expect(receiver.bodies.length).toBe(before);
    expect(receiver.spans.some((s) => s.traceId === "11111111111111111111111111111111")).toBe(false);
  }, 60_000);
});
