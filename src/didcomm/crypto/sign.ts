// Detached signatures for JWS: EdDSA (Ed25519) and ES256 (P-256, raw r||s) on native keys.
import { sign, verify } from "node:crypto";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { PrivateJwk, PublicJwk } from "../keys/jwk.ts";
import { privateKeyObject, publicKeyObject } from "./keys.ts";

export type SignAlg = "EdDSA" | "ES256";
export const SIGNATURE_BYTES = 64;

export function isSignAlg(value: unknown): value is SignAlg {
  return value === "EdDSA" || value === "ES256";
}

/** The JWS alg a key signs with; X25519 (or anything else) is Unsupported. */
export function algForKey(jwk: PublicJwk): SignAlg {
  if (jwk.crv === "Ed25519" && jwk.kty === "OKP") return "EdDSA";
  if (jwk.crv === "P-256" && jwk.kty === "EC") return "ES256";
  throw new DidcommError(DidcommErrorCode.Unsupported, "key cannot be used for signing");
}

/** Signs `data`; `alg` must match the key's curve (InvalidKey otherwise). Returns a 64-byte signature. */
export function signBytes(alg: SignAlg, priv: PrivateJwk, data: Uint8Array): Uint8Array {
  if (algForKey(priv) !== alg) throw new DidcommError(DidcommErrorCode.InvalidKey, "alg does not match the signing key");
  const key = privateKeyObject(priv);
  try {
    return alg === "EdDSA" ? sign(null, data, key) : sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "signing failed", { cause });
  }
}

/**
 * True iff `sig` is a valid `alg` signature over `data` by `pub`. An alg that does not match the
 * key's curve, or a signature of the wrong size, is simply invalid (false). Bad key material throws InvalidKey.
 */
export function verifyBytes(alg: SignAlg, pub: PublicJwk, data: Uint8Array, sig: Uint8Array): boolean {
  if (!isSignAlg(alg) || sig.length !== SIGNATURE_BYTES) return false;
  if (pub.crv !== "Ed25519" && pub.crv !== "P-256") return false;
  if (algForKey(pub) !== alg) return false;
  const key = publicKeyObject(pub);
  try {
    return alg === "EdDSA"
      ? verify(null, data, key, sig)
      : verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    // Native verify throws on some malformed signatures; that is just "not valid".
    return false;
  }
}
