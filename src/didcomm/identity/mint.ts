// Mints the mediator's did:peer:2 from its identity: E + V keys and DIDCommMessaging services (HTTP, WS).
import { authenticationKeys, keyAgreementKeys } from "../did/document.ts";
import { createPeer2, resolvePeer2 } from "../did/peer2.ts";
import type { DidCommServiceEndpoint, DidDocument } from "../did/types.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { publicPart, type KeyRef, type PrivateJwk } from "../keys/jwk.ts";
import { redactedKeyRef } from "../secrets/redact.ts";
import type { MediatorIdentity } from "./identity.ts";

const MAX_URI_CHARS = 2048;

function checkUri(uri: string, schemes: string[], what: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not a URL`, { cause });
  }
  if (uri.length > MAX_URI_CHARS || !schemes.includes(url.protocol)) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} must be a ${schemes.join("/")} URL`);
  }
}

export interface MintedDid {
  did: string;
  document: DidDocument;
  /** [key agreement, authentication], kids equal to the document's verification method ids. */
  keys: KeyRef<PrivateJwk>[];
}

/**
 * The mediator DID: did:peer:2 with the Ed25519 key as "#key-1" (V), the X25519 key as "#key-2" (E),
 * and services "#service" (httpUri) and "#service-1" (wsUri, when given), both accepting didcomm/v2.
 * Deterministic: the same identity and URIs always give the same DID.
 */
export function mintMediatorDid(id: MediatorIdentity, opts: { httpUri: string; wsUri?: string }): MintedDid {
  checkUri(opts.httpUri, ["http:", "https:"], "httpUri");
  const services: DidCommServiceEndpoint[] = [{ uri: opts.httpUri, accept: ["didcomm/v2"] }];
  if (opts.wsUri !== undefined) {
    checkUri(opts.wsUri, ["ws:", "wss:"], "wsUri");
    services.push({ uri: opts.wsUri, accept: ["didcomm/v2"] });
  }
  const did = createPeer2({
    agreementKeys: [publicPart(id.keyAgreement)],
    authenticationKeys: [publicPart(id.authentication)],
    services,
  });
  const document = resolvePeer2(did);
  const [ka] = keyAgreementKeys(document);
  const [auth] = authenticationKeys(document);
  // Invariant: the document we publish names exactly the keys we hold.
  if (ka === undefined || auth === undefined || ka.jwk.x !== id.keyAgreement.x || auth.jwk.x !== id.authentication.x) {
    throw new DidcommError(DidcommErrorCode.KeyNotFound, "minted DID document does not carry the identity's keys");
  }
  return { did, document, keys: [redactedKeyRef(ka.kid, id.keyAgreement), redactedKeyRef(auth.kid, id.authentication)] };
}
