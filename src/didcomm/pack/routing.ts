// Routing 2.0 on the sending side: find the recipient's endpoint and wrap the envelope in forwards.
import type { ContentEnc } from "../crypto/content.ts";
import { didOf } from "../did/document.ts";
import { didcommServices } from "../did/service.ts";
import type { DidCommServiceEndpoint } from "../did/types.ts";
import { utf8Encode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { encryptAnon } from "../jwe/anoncrypt.ts";
import { isDid, isDidUrl } from "../message/did-syntax.ts";
import { buildForward } from "../message/forward.ts";
import { recipientAgreementKeys, sameCurveAsFirst } from "./keys.ts";
import type { DidcommContext } from "./types.ts";

/** Longest routing chain we build (each hop costs an anoncrypt and a resolution). */
export const MAX_ROUTING_KEYS = 8;

export interface RouteService {
  uri: string;
  routingKeys: string[];
}

/**
 * The first hop for `recipientDid`: its first DIDCommMessaging service. When that service's uri is
 * a DID (a mediator), the mediator's own first service gives the uri; the routing keys are the
 * recipient service's, or else the mediator service's, or else the mediator DID itself (so the
 * mediator can open the forward). Undefined when the recipient has no DIDComm service.
 */
export async function resolveRoute(ctx: DidcommContext, recipientDid: string): Promise<RouteService | undefined> {
  const first = didcommServices(await ctx.resolver.resolve(recipientDid))[0];
  if (first === undefined) return undefined;
  const own = first.endpoint;
  if (!isDid(own.uri)) return { uri: own.uri, routingKeys: checkedKeys(own) };
  const mediatorDid = own.uri;
  const hop = didcommServices(await ctx.resolver.resolve(mediatorDid))[0];
  if (hop === undefined) throw new DidcommError(DidcommErrorCode.KeyNotFound, "mediator DID has no DIDCommMessaging service");
  if (isDid(hop.endpoint.uri)) throw new DidcommError(DidcommErrorCode.Unsupported, "mediator service points to another DID");
  let routingKeys = checkedKeys(own);
  if (routingKeys.length === 0) routingKeys = checkedKeys(hop.endpoint);
  if (routingKeys.length === 0) routingKeys = [mediatorDid];
  return { uri: hop.endpoint.uri, routingKeys };
}

function checkedKeys(endpoint: DidCommServiceEndpoint): string[] {
  const keys = endpoint.routingKeys ?? [];
  if (keys.length > MAX_ROUTING_KEYS) throw new DidcommError(DidcommErrorCode.TooLarge, `more than ${MAX_ROUTING_KEYS} routing keys`);
  for (const k of keys) if (!isDidUrl(k)) throw new DidcommError(DidcommErrorCode.DidInvalid, "routing key is not a DID or DID URL");
  return keys;
}

/**
 * Wraps `envelope` in one anoncrypted forward per routing key, innermost first (as didcomm-rust):
 * the innermost forward (next = recipient DID) is encrypted to the last routing key; each outer
 * one names the previous key as next; the outermost is encrypted to routingKeys[0], the first hop.
 */
export async function wrapInForwards(
  ctx: DidcommContext,
  envelope: object,
  recipient: string,
  routingKeys: readonly string[],
  enc: ContentEnc | undefined,
): Promise<object> {
  let current = envelope;
  let next = didOf(recipient);
  for (let i = routingKeys.length - 1; i >= 0; i--) {
    const key = routingKeys[i]!;
    const forward = buildForward(next, current);
    const recipients = sameCurveAsFirst(await recipientAgreementKeys(ctx, key));
    current = encryptAnon(utf8Encode(JSON.stringify(forward)), recipients, enc === undefined ? {} : { enc });
    next = key;
  }
  return current;
}
