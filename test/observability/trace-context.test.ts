// W3C trace context: traceparent parsing per the spec, async-local current context, the logger mixin, and
// propagation through NATS request headers to the handler on the other side (rpcRequest -> rpcServe).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { rpcRequest, rpcServe } from "../../src/cluster/rpc.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { childOf, currentTrace, formatTraceparent, parseTraceparent, runWithTrace, traceFrom } from "../../src/observability/trace-context.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

describe("traceparent", () => {
  test("valid headers parse; the spec's invalid forms start a new trace", () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({ traceId: TRACE, parentSpanId: PARENT, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.sampled).toBe(false);
    // A future version may append fields; version 00 may not.
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-01-extra`)?.traceId).toBe(TRACE);
    for (const bad of [
      null,
      "",
      `00-${TRACE}-${PARENT}-01-extra`,
      `ff-${TRACE}-${PARENT}-01`,
      `00-${"0".repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}`,
      `00-${TRACE}-${PARENT}-01${"x".repeat(600)}`,
    ]) {
      expect([bad, parseTraceparent(bad)]).toEqual([bad, undefined]);
    }
  });

  test("traceFrom continues the caller's trace with a new span; format round-trips; childOf links spans", () => {
    const ctx = traceFrom(`00-${TRACE}-${PARENT}-01`, { requestId: "r1" });
    expect(ctx.traceId).toBe(TRACE);
    expect(ctx.parentSpanId).toBe(PARENT);
    expect(ctx.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(ctx.spanId).not.toBe(PARENT);
    expect(parseTraceparent(formatTraceparent(ctx))).toEqual({ traceId: TRACE, parentSpanId: ctx.spanId, sampled: true });
    const fresh = traceFrom("garbage");
    expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.parentSpanId).toBeUndefined();
    const child = childOf(ctx);
    expect([child.traceId, child.parentSpanId, child.requestId]).toEqual([TRACE, ctx.spanId, "r1"]);
    // Ids are unique (pooled random bytes must not repeat).
    const ids = new Set(Array.from({ length: 2000 }, () => traceFrom(null).spanId));
    expect(ids.size).toBe(2000);
  });

  test("the current context follows awaits, and every log line inside carries its ids", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "info", destination: { write: (s: string) => void lines.push(JSON.parse(s)) } }).child({ module: "t" });
    const ctx = traceFrom(`00-${TRACE}-${PARENT}-01`, { requestId: "req-7" });
    await runWithTrace(ctx, async () => {
      await Promise.resolve();
      await new Promise((r) => setImmediate(r));
      expect(currentTrace()).toBe(ctx);
      log.info({ n: 1 }, "inside");
    });
    log.info({}, "outside");
    expect(currentTrace()).toBeUndefined();
    expect(lines[0]).toMatchObject({ msg: "inside", requestId: "req-7", traceId: TRACE, spanId: ctx.spanId, module: "t", n: 1 });
    expect(lines[1]!.traceId).toBeUndefined();
    expect(lines[1]!.requestId).toBeUndefined();
  });
});

describe("trace context over NATS", () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: nats.url });
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  test("rpcRequest sends the current traceparent; the handler runs in a child of the caller's span", async () => {
    const seen: (ReturnType<typeof currentTrace> | null)[] = [];
    const server = rpcServe(nc, "test.trace", () => {
      seen.push(currentTrace() ?? null);
      return "ok";
    });
    const ctx = traceFrom(`00-${TRACE}-${PARENT}-01`);
    expect(await runWithTrace(ctx, () => rpcRequest<string>(nc, "test.trace", {}, { timeoutMs: 2000 }))).toBe("ok");
    // Without a context no header is sent and the handler has none.
    expect(await rpcRequest<string>(nc, "test.trace", {}, { timeoutMs: 2000 })).toBe("ok");
    // Extra headers pass through alongside.
    expect(await runWithTrace(ctx, () => rpcRequest<string>(nc, "test.trace", {}, { timeoutMs: 2000, headers: { "x-test": "1" } }))).toBe("ok");
    server.stop();
    expect(seen[0]).toMatchObject({ traceId: TRACE, parentSpanId: ctx.spanId, sampled: true });
    expect(seen[0]!.spanId).not.toBe(ctx.spanId);
    expect(seen[1]).toBeNull();
    expect(seen[2]?.traceId).toBe(TRACE);
  });
});
