// Elliptic-curve Diffie-Hellman (X25519, P-256) on native keys, with the checks JOSE requires.
import { diffieHellman, type KeyObject } from "node:crypto";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { PrivateJwk, PublicJwk } from "../keys/jwk.ts";
import { privateKeyObject, publicKeyObject } from "./keys.ts";

/**
 * Shared secret Z between `priv` and `pub`. Both must be on the same agreement curve
 * (X25519 or P-256), else InvalidKey. An all-zero X25519 output (low-order point) is InvalidKey.
 */
export function ecdh(priv: PrivateJwk, pub: PublicJwk): Uint8Array {
  if (priv.crv !== pub.crv) throw new DidcommError(DidcommErrorCode.InvalidKey, "key agreement curve mismatch");
  if (priv.crv !== "X25519" && priv.crv !== "P-256") {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${priv.crv} is not a key agreement curve`);
  }
  return ecdhKeyObjects(privateKeyObject(priv), publicKeyObject(pub));
}

/** ECDH on already-imported native keys; callers have checked that the curves match. */
export function ecdhKeyObjects(priv: KeyObject, pub: KeyObject): Uint8Array {
  let z: Buffer;
  try {
    z = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch (cause) {
    // OpenSSL/BoringSSL refuse low-order X25519 points and mismatched key types here.
    throw new DidcommError(DidcommErrorCode.InvalidKey, "key agreement failed", { cause });
  }
  // Defence in depth: never derive keys from an all-zero secret (RFC 7748 §6.1).
  let acc = 0;
  for (let i = 0; i < z.length; i++) acc |= z[i]!;
  if (acc === 0 || z.length !== 32) throw new DidcommError(DidcommErrorCode.InvalidKey, "key agreement produced an invalid secret");
  return new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
}
