// The W3C traceparent a delivery event carries from the request that queued it: validated on every way in and out of storage.
import { formatTraceparent, parseTraceparent } from "../observability/trace-context.ts";

/** A stored value longer than this is not even parsed (records and rows are untrusted once on disk or on the wire). */
export const MAX_STORED_TRACEPARENT_CHARS = 128;

/**
 * The canonical version-00 form of `v`, or null when it is absent or not a valid W3C traceparent. Never throws: a
 * bad trace context costs the trace link, never the delivery.
 */
export function storedTraceparent(v: unknown): string | null {
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_STORED_TRACEPARENT_CHARS) return null;
  const p = parseTraceparent(v);
  return p === undefined ? null : formatTraceparent({ traceId: p.traceId, spanId: p.parentSpanId, sampled: p.sampled });
}

/** `{ traceparent }` when there is a valid one, else nothing: events without a trace keep their old shape. */
export function traceparentField(v: unknown): { traceparent?: string } {
  const tp = storedTraceparent(v);
  return tp === null ? {} : { traceparent: tp };
}
