// did:key (and did:peer:0, which shares its document): one multikey; Ed25519 also yields a derived X25519 key.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { PublicJwk } from "../keys/jwk.ts";
import { ed25519ToX25519, jwkToMultikey, multikeyToJwk } from "../keys/multikey.ts";
import type { DidDocument, VerificationMethod } from "./types.ts";

const MAX_MULTIKEY_CHARS = 128;

function invalid(message: string, cause?: unknown): never {
  throw new DidcommError(DidcommErrorCode.DidInvalid, message, cause === undefined ? undefined : { cause });
}

function multikeyMethod(did: string, multikey: string): VerificationMethod {
  return { id: `${did}#${multikey}`, type: "Multikey", controller: did, publicKeyMultibase: multikey };
}

/**
 * The document for a DID whose identifier is a single multikey. Ed25519: authentication/assertion, plus
 * the derived X25519 key for keyAgreement. X25519: keyAgreement only. P-256: both.
 */
export function multikeyDocument(did: string, multikey: string): DidDocument {
  if (multikey.length > MAX_MULTIKEY_CHARS || multikey[0] !== "z") invalid("DID does not carry a base58btc multikey");
  let jwk: PublicJwk;
  try {
    jwk = multikeyToJwk(multikey);
  } catch (cause) {
    invalid("DID carries an invalid or unsupported key", cause);
  }
  const main = multikeyMethod(did, multikey);
  const doc: DidDocument = {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    id: did,
    verificationMethod: [main],
    authentication: [],
    assertionMethod: [],
    keyAgreement: [],
    service: [],
  };
  if (jwk.crv === "X25519") {
    doc.keyAgreement.push(main.id);
    return doc;
  }
  doc.authentication.push(main.id);
  doc.assertionMethod!.push(main.id);
  if (jwk.crv === "P-256") {
    doc.keyAgreement.push(main.id);
    return doc;
  }
  let x: PublicJwk;
  try {
    x = ed25519ToX25519(jwk);
  } catch (cause) {
    invalid("DID carries an Ed25519 key that is not a valid point", cause);
  }
  const agreement = multikeyMethod(did, jwkToMultikey(x));
  doc.verificationMethod.push(agreement);
  doc.keyAgreement.push(agreement.id);
  return doc;
}

export function resolveDidKey(did: string): DidDocument {
  if (typeof did !== "string" || !did.startsWith("did:key:")) invalid("not a did:key");
  return multikeyDocument(did, did.slice("did:key:".length));
}

/** did:peer:0: the inception key is a multikey, exactly as in did:key. */
export function resolvePeer0(did: string): DidDocument {
  if (typeof did !== "string" || !did.startsWith("did:peer:0")) invalid("not a did:peer:0");
  return multikeyDocument(did, did.slice("did:peer:0".length));
}

/** did:key for a public JWK (X25519, Ed25519, P-256). */
export function didKeyFromJwk(jwk: PublicJwk): string {
  return "did:key:" + jwkToMultikey(jwk);
}

/** did:peer:0 for a public JWK. */
export function didPeer0FromJwk(jwk: PublicJwk): string {
  return "did:peer:0" + jwkToMultikey(jwk);
}
