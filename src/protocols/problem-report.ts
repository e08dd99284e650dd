// Problem Report 2.0: building reports (pthid = the offending thread) and receiving them (log, drop).
import type { Message } from "../didcomm/message/types.ts";
import type { ProtocolError } from "./errors.ts";
import { plainMessage, threadOf } from "./reply.ts";
import type { Handler, HandlerContext, ProtocolSpec } from "./types.ts";
import { PIURI, TYPES } from "./uris.ts";

const MAX_ARG_CHARS = 256;

/**
 * A problem report about `offending` (its thid, or its id when it started the thread, becomes the
 * pthid). Without an offending message (an envelope we could not open) there is no pthid to give.
 */
export function buildProblemReport(err: ProtocolError, ctx: HandlerContext, offending?: Message): Message {
  const body: Record<string, unknown> = { code: err.problem.code, comment: err.problem.comment };
  // Args echo only what the sender sent or static words; bounded so a report never balloons.
  if (err.args.length > 0) body.args = err.args.map((a) => (a.length > MAX_ARG_CHARS ? `${a.slice(0, MAX_ARG_CHARS)}...` : a));
  const extra: Partial<Message> = offending === undefined ? {} : { pthid: threadOf(offending) };
  return plainMessage(ctx, TYPES.problemReport, body, extra);
}

/** Receiving a problem report: nothing to answer (answering could loop); logged without its content. */
const onProblemReport: Handler = async (msg, ctx) => {
  ctx.services.logger.info({ sender: ctx.sender.kind, hasPthid: msg.pthid !== undefined }, "problem report received");
  return [];
};

export const problemReportProtocol: ProtocolSpec = {
  piuri: PIURI.reportProblem,
  handlers: { "problem-report": onProblemReport },
};
