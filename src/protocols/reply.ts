// Building replies (thid, from, to) and the authorisation checks shared by the client-only protocols.
import { isDid } from "../didcomm/message/did-syntax.ts";
import type { Message } from "../didcomm/message/types.ts";
import { Problems, ProtocolError } from "./errors.ts";
import type { HandlerContext } from "./types.ts";

/** The thread a message belongs to: its thid, or its own id when it starts the thread. */
export function threadOf(msg: Message): string {
  return msg.thid ?? msg.id;
}

/** A reply in `msg`'s thread, from the mediator to `ctx.replyTo`. */
export function reply(msg: Message, ctx: HandlerContext, type: string, body: Record<string, unknown>, extra: Partial<Message> = {}): Message {
  return plainMessage(ctx, type, body, { thid: threadOf(msg), ...extra });
}

/** A message from the mediator to `ctx.replyTo` (ids are random UUIDs; created_time is the clock's). */
export function plainMessage(ctx: HandlerContext, type: string, body: Record<string, unknown>, extra: Partial<Message> = {}): Message {
  const out: Message = {
    id: crypto.randomUUID(),
    type,
    from: ctx.mediatorDid,
    created_time: Math.floor(ctx.services.clock.nowMs() / 1000),
    body,
    ...extra,
  };
  if (ctx.replyTo !== undefined) out.to = [ctx.replyTo];
  return out;
}

/** The reply target for a message: the authenticated DID, else a syntactically valid claimed `from`. */
export function replyTargetOf(msg: Message, sender: HandlerContext["sender"]): string | undefined {
  if (sender.kind !== "anonymous") return sender.did;
  return isDid(msg.from) ? msg.from : undefined;
}

/** The authenticated client DID (authcrypt or signed); anoncrypt requests learn nothing more. */
export function requireAuthenticated(ctx: HandlerContext): string {
  if (ctx.sender.kind === "anonymous") throw new ProtocolError(Problems.authRequired);
  return ctx.sender.did;
}

/** The authenticated client that holds a mediation (its DID is the mailbox key). */
export async function requireClient(ctx: HandlerContext): Promise<string> {
  const did = requireAuthenticated(ctx);
  const mediation = await ctx.services.storage.mediations.get(did);
  if (mediation === undefined) throw new ProtocolError(Problems.notEnrolled);
  return did;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
