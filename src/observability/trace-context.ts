// W3C Trace Context (traceparent) for one request: parse/format, fresh ids, and an async-local "current" context.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";

/** What every log line of a request carries, and what crosses NATS to the owner node. */
export interface TraceContext {
  /** 32 lowercase hex, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex: this process's span for the request. */
  readonly spanId: string;
  /** The caller's span when the context came from a traceparent. */
  readonly parentSpanId?: string;
  /** trace-flags bit 0. */
  readonly sampled: boolean;
  /** Correlates log lines of one request (x-request-id); never derived from message content. */
  readonly requestId?: string;
  /** The HTTP request this context was made for (lets requestIdOf reuse the id). Not logged. */
  readonly request?: Request;
}

export const TRACEPARENT_HEADER = "traceparent";

/** version 00, then trace id, parent id, flags (https://www.w3.org/TR/trace-context/#traceparent-header). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);
/** A header longer than this is ignored rather than parsed (untrusted input). */
const MAX_TRACEPARENT_CHARS = 512;

/** Parsed traceparent, or undefined when absent or invalid (then a new trace starts, as the spec says). */
export function parseTraceparent(value: string | null | undefined): { traceId: string; parentSpanId: string; sampled: boolean } | undefined {
  if (typeof value !== "string" || value.length > MAX_TRACEPARENT_CHARS) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, parentSpanId, flags, rest] = m;
  // Version ff is forbidden; version 00 has exactly four fields (future versions may append more).
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, parentSpanId: parentSpanId!, sampled: (parseInt(flags!, 16) & 1) === 1 };
}

export function formatTraceparent(ctx: Pick<TraceContext, "traceId" | "spanId" | "sampled">): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? "01" : "00"}`;
}

/**
 * Random ids sliced from a pooled hex string: one randomBytes call and one hex encoding serve ~170 requests (this
 * runs per request; slicing a string is cheaper than encoding a few bytes each time).
 */
const POOL_BYTES = 4096;
let poolHex = "";
let poolAt = 0;
function randomHex(bytes: number): string {
  const chars = bytes * 2;
  if (poolAt + chars > poolHex.length) {
    poolHex = randomBytes(POOL_BYTES).toString("hex");
    poolAt = 0;
  }
  const hex = poolHex.slice(poolAt, poolAt + chars);
  poolAt += chars;
  return hex;
}
export const newTraceId = (): string => {
  const id = randomHex(16);
  return id === ZERO_TRACE ? newTraceId() : id;
};
export const newSpanId = (): string => {
  const id = randomHex(8);
  return id === ZERO_SPAN ? newSpanId() : id;
};

/** A context continuing `traceparent` (or a new trace when it is missing or invalid), with a fresh span id. */
export function traceFrom(traceparent: string | null | undefined, extra: { requestId?: string; request?: Request } = {}): TraceContext {
  const parent = parseTraceparent(traceparent);
  const base = parent === undefined ? { traceId: newTraceId(), sampled: false } : { traceId: parent.traceId, parentSpanId: parent.parentSpanId, sampled: parent.sampled };
  return { ...base, spanId: newSpanId(), ...extra };
}

/** A child span of `ctx` (same trace, new span id, parent = ctx's span). */
export function childOf(ctx: TraceContext, extra: { requestId?: string } = {}): TraceContext {
  const out: TraceContext = { traceId: ctx.traceId, spanId: newSpanId(), parentSpanId: ctx.spanId, sampled: ctx.sampled };
  const requestId = extra.requestId ?? ctx.requestId;
  return requestId === undefined ? out : { ...out, requestId };
}

const storage = new AsyncLocalStorage<TraceContext>();

/** Runs `fn` with `ctx` as the current trace context (seen by the logger mixin and NATS requests). */
export function runWithTrace<T>(ctx: TraceContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentTrace(): TraceContext | undefined {
  return storage.getStore();
}

/** Fields added to every log line written inside a trace context (pino mixin). */
export function traceLogFields(): Record<string, string> {
  const ctx = storage.getStore();
  if (ctx === undefined) return {};
  return ctx.requestId === undefined
    ? { traceId: ctx.traceId, spanId: ctx.spanId }
    : { requestId: ctx.requestId, traceId: ctx.traceId, spanId: ctx.spanId };
}
