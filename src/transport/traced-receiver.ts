// Gives each inbound message a trace context when none is current (WebSocket frames: no HTTP request around them).
import { currentTrace, runWithTrace, traceFrom } from "../observability/trace-context.ts";
import type { MessageReceiver } from "./contract.ts";

/** HTTP requests already run in their request's context (http-app.ts); a WS frame starts a new trace here. */
export function tracedReceiver(core: MessageReceiver): MessageReceiver {
  return {
    receive(bytes, inbound) {
      if (currentTrace() !== undefined) return core.receive(bytes, inbound);
      return runWithTrace(traceFrom(undefined, { requestId: inbound.requestId }), () => core.receive(bytes, inbound));
    },
  };
}
