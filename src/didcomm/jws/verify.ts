// Verifies one signature of a parsed JWS against a public key (alg must match the key's curve).
import { algForKey, verifyBytes } from "../crypto/sign.ts";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import type { PublicJwk } from "../keys/jwk.ts";
import { signingInput } from "./sign.ts";
import type { ParsedJws } from "./types.ts";

/**
 * Throws InvalidSignature unless signature `index` verifies under `key`. An alg that does not fit
 * the key (EdDSA with a P-256 key, or an X25519 key) is InvalidSignature too: the key cannot have made it.
 * Bad key material is InvalidKey; an index out of range is Malformed.
 */
export function verifyJwsSignature(jws: ParsedJws, index: number, key: PublicJwk): void {
  const sig = Number.isInteger(index) ? jws.signatures[index] : undefined;
  if (sig === undefined) throw new DidcommError(DidcommErrorCode.Malformed, "JWS signature index out of range");
  let keyAlg;
  try {
    keyAlg = algForKey(key);
  } catch (cause) {
    if (!isDidcommError(cause)) throw cause;
    throw new DidcommError(DidcommErrorCode.InvalidSignature, "key cannot verify JWS signatures", { cause });
  }
  if (keyAlg !== sig.alg) throw new DidcommError(DidcommErrorCode.InvalidSignature, "JWS alg does not match the key");
  if (!verifyBytes(sig.alg, key, signingInput(sig.protectedB64, jws.payloadB64), sig.signature)) {
    throw new DidcommError(DidcommErrorCode.InvalidSignature, "JWS signature does not verify");
  }
}
