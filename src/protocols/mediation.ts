// Coordinate Mediation 2.0: mediate-request (grant/deny by policy), keylist-update, keylist-query.
import { isDidUrl } from "../didcomm/message/did-syntax.ts";
import { isStorageError } from "../storage/errors.ts";
import { MAX_KEY_CHARS, MAX_LIMIT, MAX_OFFSET } from "../storage/validate.ts";
import { invalid } from "./errors.ts";
import { isObject, reply, requireAuthenticated, requireClient } from "./reply.ts";
import type { Handler, HandlerContext, ProtocolSpec } from "./types.ts";
import { PIURI, TYPES } from "./uris.ts";

/** Most updates one keylist-update may carry (each is a storage write). */
export const MAX_KEYLIST_UPDATES = 100;
/** keylist-query page size when the client does not paginate. */
export const DEFAULT_KEYLIST_PAGE = 100;

type UpdateResult = "success" | "no_change" | "client_error" | "server_error";

function mayMediate(ctx: HandlerContext, did: string): boolean {
  const m = ctx.services.config.mediation;
  return m.policy === "open" || m.allowlist.includes(did);
}

const onMediateRequest: Handler = async (msg, ctx) => {
  const client = requireAuthenticated(ctx);
  if (!mayMediate(ctx, client)) return [reply(msg, ctx, TYPES.mediateDeny, {})];
  const mediations = ctx.services.storage.mediations;
  // A repeated request keeps the original grant (and its keylist): grant is idempotent.
  if ((await mediations.get(client)) === undefined) {
    await mediations.grant({ clientDid: client, routingDid: ctx.mediatorDid, grantedAtMs: ctx.services.clock.nowMs() });
  }
  return [reply(msg, ctx, TYPES.mediateGrant, { routing_did: ctx.mediatorDid })];
};

async function applyUpdate(ctx: HandlerContext, client: string, recipient: string, action: "add" | "remove"): Promise<UpdateResult> {
  const mediations = ctx.services.storage.mediations;
  try {
    if (action === "remove") return await mediations.removeKey(client, recipient);
    const r = await mediations.addKey(client, recipient);
    // Owned by another mediation: refused, without saying by whom.
    return r === "conflict" ? "client_error" : r;
  } catch (e) {
    if (isStorageError(e) && e.code === "invalid_argument") return "client_error";
    if (isStorageError(e)) return "server_error";
    throw e;
  }
}

const onKeylistUpdate: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  const updates = msg.body.updates;
  if (!Array.isArray(updates) || updates.length > MAX_KEYLIST_UPDATES) {
    invalid(`body.updates must be an array of at most ${MAX_KEYLIST_UPDATES} updates`);
  }
  const updated: Record<string, unknown>[] = [];
  // In order: a later update of the same DID sees the earlier one's effect.
  for (const u of updates) {
    const recipient = isObject(u) ? u.recipient_did : undefined;
    const action = isObject(u) ? u.action : undefined;
    const echo = { recipient_did: typeof recipient === "string" ? recipient.slice(0, MAX_KEY_CHARS) : null, action: typeof action === "string" ? action.slice(0, 16) : null };
    if (!isDidUrl(recipient) || recipient.length > MAX_KEY_CHARS || (action !== "add" && action !== "remove")) {
      updated.push({ ...echo, result: "client_error" });
      continue;
    }
    updated.push({ ...echo, result: await applyUpdate(ctx, client, recipient, action) });
  }
  return [reply(msg, ctx, TYPES.keylistUpdateResponse, { updated })];
};

function pageOf(body: Record<string, unknown>): { limit: number; offset: number } {
  const p = body.paginate;
  if (p === undefined || p === null) return { limit: DEFAULT_KEYLIST_PAGE, offset: 0 };
  if (!isObject(p)) invalid("body.paginate must be an object");
  const { limit, offset } = p;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) invalid("paginate.limit must be a positive integer");
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    invalid(`paginate.offset must be an integer in 0..${MAX_OFFSET}`);
  }
  // Larger pages are served in several: the client follows `remaining`.
  return { limit: Math.min(limit, MAX_LIMIT), offset };
}

const onKeylistQuery: Handler = async (msg, ctx) => {
  const client = await requireClient(ctx);
  const { limit, offset } = pageOf(msg.body);
  const { keys, total } = await ctx.services.storage.mediations.listKeys(client, { offset, limit });
  return [
    reply(msg, ctx, TYPES.keylist, {
      keys: keys.map((k) => ({ recipient_did: k })),
      pagination: { count: keys.length, offset, remaining: Math.max(0, total - offset - keys.length) },
    }),
  ];
};

export const mediationProtocol: ProtocolSpec = {
  piuri: PIURI.mediation,
  roles: ["mediator"],
  handlers: {
    "mediate-request": onMediateRequest,
    "keylist-update": onKeylistUpdate,
    "keylist-query": onKeylistQuery,
  },
};
