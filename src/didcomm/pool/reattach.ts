// Main-thread side of a worker's forward reply: puts the attached envelope back, parsed only when someone reads it.
import type { Message } from "../message/types.ts";
import { forgetForwardFacts, rememberForwardFacts, type ForwardFacts } from "./forward-facts.ts";

/**
 * Re-attaches `facts.json` as `attachments[0].data.json` of a message whose worker sent it separately. The
 * property reads like the parsed object (enumerable; JSON.parse on first read, then a plain value), so the result
 * equals the in-thread one; routing reads the facts instead and the object is never built. Writing the property
 * drops the facts (they would no longer describe it). False when the message is not the shape the worker strips.
 */
export function reattachForward(msg: Message, facts: ForwardFacts): boolean {
  const atts = msg.attachments;
  if (!Array.isArray(atts) || atts.length !== 1) return false;
  const data = atts[0]?.data as unknown;
  if (data === null || typeof data !== "object" || Array.isArray(data) || Object.keys(data).length !== 0) return false;
  const settle = (value: unknown): void => {
    Object.defineProperty(data, "json", { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(data, "json", {
    enumerable: true,
    configurable: true,
    get(): unknown {
      const value: unknown = JSON.parse(facts.json);
      settle(value);
      return value;
    },
    set(value: unknown): void {
      forgetForwardFacts(msg);
      settle(value);
    },
  });
  rememberForwardFacts(msg, facts);
  return true;
}
