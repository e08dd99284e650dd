// Haven Webhooks 1.0 (ours, docs/WEBHOOKS.md): an authenticated mediation client sets, reads or removes the webhook of its own recipient DIDs.
import type { Message } from "../didcomm/message/types.ts";
import { DeliveryError, DeliveryErrorCode } from "../delivery/errors.ts";
import type { WebhookStore } from "../delivery/webhook-store.ts";
import { invalid, Problems, ProtocolError } from "./errors.ts";
import { isObject, reply, requireClient } from "./reply.ts";
import type { Handler, HandlerContext, ProtocolServices, ProtocolSpec } from "./types.ts";

export const WEBHOOKS_PIURI = "https://haven.dev/webhooks/1.0";

export const WEBHOOK_TYPES = {
  set: `${WEBHOOKS_PIURI}/set`,
  setOk: `${WEBHOOKS_PIURI}/set-ok`,
  remove: `${WEBHOOKS_PIURI}/remove`,
  removeOk: `${WEBHOOKS_PIURI}/remove-ok`,
  get: `${WEBHOOKS_PIURI}/get`,
  status: `${WEBHOOKS_PIURI}/status`,
} as const;

/** ProtocolServices plus the registry; the lead adds `webhooks` to ProtocolServices itself. */
type WithWebhooks = ProtocolServices & { webhooks?: WebhookStore | null };

function storeOf(ctx: HandlerContext): WebhookStore {
  const store = (ctx.services as WithWebhooks).webhooks;
  if (store == null) throw new ProtocolError(Problems.unavailable);
  return store;
}

/**
 * The DID the request is about: `body.recipient_did`, default the client's own DID. Allowed only for
 * the client itself or a recipient DID in its keylist, so nobody can redirect another agent's notices.
 * Refusals do not say whether the DID is someone else's or nobody's.
 */
async function targetOf(msg: Message, ctx: HandlerContext): Promise<{ client: string; recipient: string }> {
  const client = await requireClient(ctx);
  const raw = msg.body.recipient_did;
  if (raw === undefined || raw === null || raw === client) return { client, recipient: client };
  if (typeof raw !== "string" || raw.length > 4096) invalid("body.recipient_did must be a DID");
  if ((await ctx.services.storage.mediations.ownerOf(raw)) !== client) throw new ProtocolError(Problems.notEnrolled);
  return { client, recipient: raw };
}

/** Registry errors as problem reports: bad input names the field (never the secret), store trouble is retryable. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DeliveryError && e.code === DeliveryErrorCode.Invalid) throw new ProtocolError(Problems.invalidMessage, [e.message], { cause: e });
    if (e instanceof DeliveryError) throw new ProtocolError(Problems.unavailable, [], { cause: e, retryable: true });
    throw e;
  }
}

const onSet: Handler = async (msg, ctx) => {
  const store = storeOf(ctx);
  const { recipient } = await targetOf(msg, ctx);
  const { url, secret } = msg.body;
  if (typeof url !== "string") invalid("body.url must be a string");
  if (typeof secret !== "string") invalid("body.secret must be a string");
  const view = await guarded(() => store.put({ recipientDid: recipient, url, secret }));
  ctx.services.logger.info({ recipientDid: recipient, destination: new URL(view.url).origin }, "webhook set by its agent");
  return [reply(msg, ctx, WEBHOOK_TYPES.setOk, { recipient_did: recipient, url: view.url })];
};

const onRemove: Handler = async (msg, ctx) => {
  const store = storeOf(ctx);
  const { recipient } = await targetOf(msg, ctx);
  const removed = await guarded(() => store.delete(recipient));
  return [reply(msg, ctx, WEBHOOK_TYPES.removeOk, { recipient_did: recipient, removed })];
};

const onGet: Handler = async (msg, ctx) => {
  const store = storeOf(ctx);
  const { recipient } = await targetOf(msg, ctx);
  const view = await guarded(() => store.get(recipient));
  const body: Record<string, unknown> = { recipient_did: recipient, registered: view !== null };
  if (view !== null) Object.assign(body, { url: view.url, updated_time: Math.floor(view.updatedAtMs / 1000) });
  return [reply(msg, ctx, WEBHOOK_TYPES.status, body)];
};

function requireObjectBody(h: Handler): Handler {
  return async (msg, ctx) => {
    if (!isObject(msg.body)) invalid("body must be an object");
    return h(msg, ctx);
  };
}

export const webhooksProtocol: ProtocolSpec = {
  piuri: WEBHOOKS_PIURI,
  roles: ["registry"],
  handlers: { set: requireObjectBody(onSet), remove: requireObjectBody(onRemove), get: requireObjectBody(onGet) },
};
