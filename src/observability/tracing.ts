// OpenTelemetry spans for the message pipeline, exported over OTLP/HTTP; a plain call (no span) while tracing is off.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from "@opentelemetry/api";
import type { IdGenerator, TracerProvider } from "@opentelemetry/sdk-trace";
import { createRequire } from "node:module";
import { currentTrace, formatTraceparent, newSpanId, newTraceId, parseTraceparent, runWithTrace, type TraceContext } from "./trace-context.ts";

// The SDK and exporter (~4 MiB resident) are loaded only when tracing is switched on.
const lazyRequire = createRequire(import.meta.url);

/** The span names (the same as the stages of haven_stage_duration_seconds). Spans carry no other attributes. */
export type SpanName = "receive" | "unpack" | "journal" | "replicate" | "store" | "deliver";

const KINDS: Record<SpanName, SpanKind> = {
  receive: SpanKind.SERVER,
  unpack: SpanKind.INTERNAL,
  journal: SpanKind.INTERNAL,
  replicate: SpanKind.PRODUCER,
  store: SpanKind.INTERNAL,
  deliver: SpanKind.CLIENT,
};

export interface TracingOptions {
  /** Full OTLP/HTTP traces URL (config.tracing.tracesUrl). */
  tracesUrl: string;
  serviceName: string;
  /** service.instance.id (the node id). */
  instanceId?: string;
  /** Batch export delay; default 1000 ms, 10..60_000. */
  exportDelayMs?: number;
  /** Spans queued for export before new ones are dropped; default 4096, 16..1_000_000. */
  maxQueueSize?: number;
}

/** Span ids Haven itself exported (a context from traceFrom()/rpc.ts only names a span nobody exports). */
const exported = new WeakSet<TraceContext>();

/** Lets a root span take the trace id the request's logs already carry. */
class ContextIdGenerator implements IdGenerator {
  next: string | undefined;
  generateTraceId(): string {
    const id = this.next ?? newTraceId();
    this.next = undefined;
    return id;
  }
  generateSpanId(): string {
    return newSpanId();
  }
}

class ActiveTracing {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;
  readonly #ids = new ContextIdGenerator();
  refs = 1;

  constructor(o: TracingOptions) {
    const delay = bounded(o.exportDelayMs ?? 1000, 10, 60_000, "exportDelayMs");
    const maxQueueSize = bounded(o.maxQueueSize ?? 4096, 16, 1_000_000, "maxQueueSize");
    const { OTLPTraceExporter } = lazyRequire("@opentelemetry/exporter-trace-otlp-http") as typeof import("@opentelemetry/exporter-trace-otlp-http");
    const { resourceFromAttributes } = lazyRequire("@opentelemetry/resources") as typeof import("@opentelemetry/resources");
    const { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TracerProvider } = lazyRequire("@opentelemetry/sdk-trace") as typeof import("@opentelemetry/sdk-trace");
    // v3 SDK: processors take an options object ({ exporter }), not the exporter itself.
    const processor = new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: o.tracesUrl }),
      scheduledDelayMillis: delay,
      maxQueueSize,
      maxExportBatchSize: Math.min(512, maxQueueSize),
    });
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": o.serviceName, ...(o.instanceId ? { "service.instance.id": o.instanceId } : {}) }),
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      idGenerator: this.#ids,
      spanProcessors: [processor],
    });
    this.#tracer = this.#provider.getTracer("haven");
  }

  /** Runs `fn` as span `name`, child of `parent`'s exported span (or of the span it continues), current inside. */
  run<T>(name: SpanName, parent: TraceContext | undefined, fn: () => T): T {
    let otelParent: Context = ROOT_CONTEXT;
    if (parent !== undefined) {
      const parentSpanId = exported.has(parent) ? parent.spanId : parent.parentSpanId;
      if (parentSpanId !== undefined) {
        otelParent = trace.setSpanContext(ROOT_CONTEXT, {
          traceId: parent.traceId,
          spanId: parentSpanId,
          traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
          isRemote: !exported.has(parent),
        });
      } else this.#ids.next = parent.traceId; // a new trace: keep the id the logs already show
    }
    const span = this.#tracer.startSpan(name, { kind: KINDS[name] }, otelParent);
    this.#ids.next = undefined;
    const sc = span.spanContext();
    const ctx: TraceContext = {
      traceId: sc.traceId,
      spanId: sc.spanId,
      sampled: (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
      ...(parent?.requestId !== undefined ? { requestId: parent.requestId } : {}),
      ...(parent?.request !== undefined ? { request: parent.request } : {}),
      ...(parent !== undefined ? { parentSpanId: parent.spanId } : {}),
    };
    exported.add(ctx);
    let result: T;
    try {
      result = runWithTrace(ctx, fn);
    } catch (e) {
      endFailed(span, e);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (v: unknown) => {
          span.end();
          return v;
        },
        (e: unknown) => {
          endFailed(span, e);
          throw e;
        },
      ) as T;
    }
    span.end();
    return result;
  }

  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/** Only the error's class name: messages may quote untrusted input. */
function endFailed(span: Span, e: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.name : "error" });
  span.end();
}

function bounded(v: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

/** Process-wide, like the OTel global API: the replication and mailbox layers have no node handle to pass one. */
let active: ActiveTracing | undefined;

export function tracingEnabled(): boolean {
  return active !== undefined;
}

/**
 * Runs `fn` inside span `name`, a child of the current trace context; the span is current while `fn` runs (logs,
 * NATS headers). With tracing off this is exactly `fn()`.
 */
export function inSpan<T>(name: SpanName, fn: () => T): T {
  const t = active;
  return t === undefined ? fn() : t.run(name, currentTrace(), fn);
}

/**
 * Like inSpan, parented from a traceparent carried with the work (a NATS/JetStream header, a queued delivery).
 * Without a valid traceparent the span starts a new trace. With tracing off this is exactly `fn()`.
 */
export function inRemoteSpan<T>(name: SpanName, traceparent: string | null | undefined, fn: () => T): T {
  const t = active;
  if (t === undefined) return fn();
  const p = parseTraceparent(traceparent);
  const parent: TraceContext | undefined = p === undefined ? undefined : { traceId: p.traceId, spanId: p.parentSpanId, parentSpanId: p.parentSpanId, sampled: p.sampled };
  return t.run(name, parent, fn);
}

/** The current span as a traceparent to carry with deferred work (undefined while tracing is off or outside a trace). */
export function currentTraceparent(): string | undefined {
  if (active === undefined) return undefined;
  const ctx = currentTrace();
  return ctx === undefined ? undefined : formatTraceparent(ctx);
}

export interface TracingHandle {
  /** Exports what is queued now. */
  flush(): Promise<void>;
  /** Releases this user; the last one flushes and shuts the exporter down. Idempotent. */
  stop(): Promise<void>;
}

const NOOP_HANDLE: TracingHandle = { flush: async () => {}, stop: async () => {} };

/**
 * Turns tracing on for the process (reference counted: in-process test clusters run several nodes). `null` options
 * (tracing off in the config) return a handle that does nothing.
 */
export function startTracing(o: TracingOptions | null): TracingHandle {
  if (o === null) return NOOP_HANDLE;
  if (active === undefined) active = new ActiveTracing(o);
  else active.refs++;
  const mine = active;
  let stopped = false;
  return {
    flush: () => mine.flush(),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (--mine.refs > 0) return;
      if (active === mine) active = undefined;
      await mine.shutdown().catch(() => {});
    },
  };
}
