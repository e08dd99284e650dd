// Message Pickup 3.0: status-request, delivery-request, messages-received, live-delivery-change.
import type { Message } from "../didcomm/message/types.ts";
import { MAX_KEY_CHARS, MAX_LIMIT } from "../storage/validate.ts";
import { invalid, Problems, ProtocolError } from "./errors.ts";
import { deliveryMessage, statusBody } from "./pickup-messages.ts";
import { reply, requireClient, threadOf } from "./reply.ts";
import type { Handler, HandlerContext, ProtocolSpec } from "./types.ts";
import { PIURI, TYPES } from "./uris.ts";

/** Cap on the envelopes one delivery carries, in bytes (at least one message is always sent). */
export const MAX_DELIVERY_BYTES = 8 * 1024 * 1024;

/**
 * The optional recipient_did filter. It must be in the requester's own keylist: a DID enrolled by
 * someone else gets the same answer as an unknown one, so nothing leaks about other mailboxes.
 */
async function recipientFilter(msg: Message, ctx: HandlerContext, client: string): Promise<string | undefined> {
  const r = msg.body.recipient_did;
  if (r === undefined || r === null) return undefined;
  if (typeof r !== "string" || r.length === 0 || r.length > MAX_KEY_CHARS) invalid("body.recipient_did must be a DID");
  if ((await ctx.services.storage.mediations.ownerOf(r)) !== client) throw new ProtocolError(Problems.notEnrolled);
  return r;
}

async function status(msg: Message, ctx: HandlerContext, client: string, recipientDid: string | undefined): Promise<Message> {
  const stats = await ctx.services.mailbox.stats(client, recipientDid);
  const live = ctx.services.live.isLive(ctx.transport.session?.id, client);
  return reply(msg, ctx, TYPES.status, statusBody(stats, ctx.services.clock.nowMs(), live, recipientDid));
}

const onStatusRequest: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  return [await status(msg, ctx, client, await recipientFilter(msg, ctx, client))];
};

const onDeliveryRequest: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  const limit = msg.body.limit;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) invalid("body.limit must be a positive integer");
  const recipientDid = await recipientFilter(msg, ctx, client);
  const opts: { limit: number; recipientDid?: string } = { limit: Math.min(limit, MAX_LIMIT) };
  if (recipientDid !== undefined) opts.recipientDid = recipientDid;
  const nowMs = ctx.services.clock.nowMs();
  const batch = [];
  let bytes = 0;
  for (const m of await ctx.services.mailbox.list(client, opts)) {
    if (m.expiresAtMs !== null && m.expiresAtMs <= nowMs) continue; // expired, awaiting the sweep
    if (batch.length > 0 && bytes + m.sizeBytes > MAX_DELIVERY_BYTES) break;
    batch.push(m);
    bytes += m.sizeBytes;
  }
  if (batch.length === 0) return [await status(msg, ctx, client, recipientDid)];
  const extra: { thid: string; recipientDid?: string } = { thid: threadOf(msg) };
  if (recipientDid !== undefined) extra.recipientDid = recipientDid;
  return [deliveryMessage(ctx, batch, extra)];
};

/** Most ids one messages-received may list (matches the storage batch bound). */
export const MAX_RECEIVED_IDS = MAX_LIMIT;

const onMessagesReceived: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  const ids = msg.body.message_id_list;
  if (!Array.isArray(ids) || ids.length > MAX_RECEIVED_IDS || !ids.every((id) => typeof id === "string" && id.length > 0 && id.length <= 256)) {
    invalid(`body.message_id_list must be an array of at most ${MAX_RECEIVED_IDS} ids`);
  }
  // Removal is scoped to the requester's mailbox: other clients' ids are simply not found.
  if (ids.length > 0) await ctx.services.mailbox.remove(client, ids as string[]);
  return [await status(msg, ctx, client, undefined)];
};

const onLiveDeliveryChange: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  const wanted = msg.body.live_delivery;
  if (typeof wanted !== "boolean") invalid("body.live_delivery must be a boolean");
  const session = ctx.transport.session;
  if (ctx.transport.kind !== "ws" || session === undefined) {
    // Turning it off where it can never be on is a no-op; turning it on is not possible.
    if (wanted) throw new ProtocolError(Problems.liveModeNotSupported);
    return [await status(msg, ctx, client, undefined)];
  }
  if (wanted) await ctx.services.live.enable(session, client, ctx, threadOf(msg));
  else ctx.services.live.disable(session.id, client);
  return [await status(msg, ctx, client, undefined)];
};

export const pickupProtocol: ProtocolSpec = {
  piuri: PIURI.pickup,
  roles: ["mediator"],
  handlers: {
    "status-request": onStatusRequest,
    "delivery-request": onDeliveryRequest,
    "messages-received": onMessagesReceived,
    "live-delivery-change": onLiveDeliveryChange,
  },
};
