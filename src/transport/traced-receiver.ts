// Gives each inbound message a trace context when none is current (WebSocket frames: no HTTP request around them),
// and its "receive" span when tracing is on.
import { currentTrace, runWithTrace, traceFrom } from "../observability/trace-context.ts";
import { inSpan, tracingEnabled } from "../observability/tracing.ts";
import type { MessageReceiver } from "./contract.ts";

/** HTTP requests already run in their request's context (http-app.ts); a WS frame starts a new trace here. */
export function tracedReceiver(core: MessageReceiver): MessageReceiver {
  return {
    receive(bytes, inbound) {
      const handle = tracingEnabled() ? () => inSpan("receive", () => core.receive(bytes, inbound)) : () => core.receive(bytes, inbound);
      if (currentTrace() !== undefined) return handle();
      return runWithTrace(traceFrom(undefined, { requestId: inbound.requestId }), handle);
    },
  };
}
