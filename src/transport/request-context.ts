// Per-request trace context for HTTP handlers: request id plus W3C traceparent, current for the handler's whole run.
import { runWithTrace, traceFrom, TRACEPARENT_HEADER } from "../observability/trace-context.ts";
import { requestIdOf } from "./request-id.ts";

/**
 * Runs `fn` inside a trace context continuing the request's `traceparent` (or a new trace), with the request id
 * the responses echo. Every log line written meanwhile carries requestId, traceId and spanId (logger mixin), and
 * NATS requests made meanwhile carry the traceparent to the owner node (cluster/rpc.ts).
 */
export function runInRequestContext<T>(request: Request, fn: () => T): T {
  const requestId = requestIdOf(request);
  return runWithTrace(traceFrom(request.headers.get(TRACEPARENT_HEADER), { requestId, request }), fn);
}
