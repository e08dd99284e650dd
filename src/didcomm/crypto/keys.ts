// Imports JWKs into native node:crypto KeyObjects, caching them for long-lived key objects.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { b64uDecode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { Curve, PrivateJwk, PublicJwk } from "../keys/jwk.ts";

// Keyed by the JWK object itself: secrets stores and DID-document caches hand us the same object
// on every call, so the (comparatively costly) native import happens once per key, not per message.
// JWK objects must therefore be treated as immutable once used.
const privateCache = new WeakMap<PrivateJwk, KeyObject>();
const publicCache = new WeakMap<PublicJwk, KeyObject>();

// SubjectPublicKeyInfo DER prefixes: importing raw coordinates as DER skips JWK JSON handling.
const SPKI_PREFIX: Record<Curve, Buffer> = {
  X25519: Buffer.from("302a300506032b656e032100", "hex"),
  Ed25519: Buffer.from("302a300506032b6570032100", "hex"),
  // id-ecPublicKey + prime256v1, BIT STRING of an uncompressed point (0x04 || x || y).
  "P-256": Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"),
};
const COORD_BYTES = 32;

/** Native private key for a JWK (cached per JWK object). Throws InvalidKey on bad material. */
export function privateKeyObject(jwk: PrivateJwk): KeyObject {
  const cached = privateCache.get(jwk);
  if (cached !== undefined) return cached;
  checkShape(jwk);
  if (typeof jwk.d !== "string") throw new DidcommError(DidcommErrorCode.InvalidKey, "private JWK has no d");
  const d = b64uDecode(jwk.d, "private JWK d");
  if (d.length !== COORD_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "private JWK d has wrong length");
  let key: KeyObject;
  try {
    const material: Record<string, string> = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
    if (jwk.y !== undefined) material.y = jwk.y;
    key = createPrivateKey({ key: material, format: "jwk" });
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `invalid ${jwk.crv} private key`, { cause });
  }
  privateCache.set(jwk, key);
  return key;
}

/** Native public key for a JWK (cached per JWK object). Throws InvalidKey on bad material. */
export function publicKeyObject(jwk: PublicJwk): KeyObject {
  const cached = publicCache.get(jwk);
  if (cached !== undefined) return cached;
  const key = importPublic(jwk);
  publicCache.set(jwk, key);
  return key;
}

function importPublic(jwk: PublicJwk): KeyObject {
  checkShape(jwk);
  const x = b64uDecode(jwk.x, "JWK x");
  if (x.length !== COORD_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "JWK x has wrong length");
  const prefix = SPKI_PREFIX[jwk.crv];
  let der: Buffer;
  if (jwk.crv === "P-256") {
    if (typeof jwk.y !== "string") throw new DidcommError(DidcommErrorCode.InvalidKey, "EC JWK has no y");
    const y = b64uDecode(jwk.y, "JWK y");
    if (y.length !== COORD_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "JWK y has wrong length");
    der = Buffer.allocUnsafe(prefix.length + 1 + 2 * COORD_BYTES);
    prefix.copy(der, 0);
    der[prefix.length] = 0x04;
    der.set(x, prefix.length + 1);
    der.set(y, prefix.length + 1 + COORD_BYTES);
  } else {
    der = Buffer.allocUnsafe(prefix.length + COORD_BYTES);
    prefix.copy(der, 0);
    der.set(x, prefix.length);
  }
  try {
    // The native import validates P-256 points (on the curve); a bad point fails here.
    return createPublicKey({ key: der, format: "der", type: "spki" });
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `invalid ${jwk.crv} public key`, { cause });
  }
}

function checkShape(jwk: PublicJwk): void {
  if (jwk === null || typeof jwk !== "object") throw new DidcommError(DidcommErrorCode.InvalidKey, "JWK is not an object");
  const expectedKty = jwk.crv === "P-256" ? "EC" : "OKP";
  if (jwk.crv !== "X25519" && jwk.crv !== "P-256" && jwk.crv !== "Ed25519") {
    throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported JWK crv");
  }
  if (jwk.kty !== expectedKty) throw new DidcommError(DidcommErrorCode.InvalidKey, `JWK kty does not match crv ${jwk.crv}`);
  if (typeof jwk.x !== "string") throw new DidcommError(DidcommErrorCode.InvalidKey, "JWK has no x");
}
