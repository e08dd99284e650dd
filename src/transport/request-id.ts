// Request ids: a client's x-request-id is echoed when it is short and harmless, otherwise one is generated.
import { randomUUID } from "node:crypto";
import { currentTrace } from "../observability/trace-context.ts";
import { REQUEST_ID_HEADER } from "./responses.ts";

/** Visible ASCII without quotes/backslashes/spaces, so an echoed id can never inject into logs or headers. */
const SAFE_ID = /^[A-Za-z0-9._:@\-]{1,128}$/;

export function requestIdOf(request: Request): string {
  // Inside runInRequestContext the id was chosen once for this request: every caller sees the same one.
  const ctx = currentTrace();
  if (ctx?.request === request && ctx.requestId !== undefined) return ctx.requestId;
  const given = request.headers.get(REQUEST_ID_HEADER);
  return given !== null && SAFE_ID.test(given) ? given : randomUUID();
}
