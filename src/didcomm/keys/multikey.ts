// Multikey (multibase "z" + base58btc of a multicodec-prefixed public key) <-> JWK, and Ed25519 -> X25519.
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { b64uDecode, b64uEncode } from "../encoding/base64url.ts";
import { base58Decode, base58Encode } from "../did/base58.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { Curve, PublicJwk } from "./jwk.ts";

/** Varint-encoded multicodec prefixes: ed25519-pub 0xed, x25519-pub 0xec, p256-pub 0x1200. */
const PREFIX: Record<Curve, readonly [number, number]> = {
  Ed25519: [0xed, 0x01],
  X25519: [0xec, 0x01],
  "P-256": [0x80, 0x24],
};
/** Raw key length after the prefix (P-256 is a compressed SEC1 point). */
const RAW_BYTES: Record<Curve, number> = { Ed25519: 32, X25519: 32, "P-256": 33 };
/** A multikey for these curves is at most ~50 characters; anything longer is rejected unparsed. */
const MAX_MULTIKEY_CHARS = 128;

/** Decodes "z..." to the multicodec-prefixed bytes, bounded and typed. */
function decodeMultibase(multibase: string): Uint8Array {
  if (typeof multibase !== "string" || multibase.length > MAX_MULTIKEY_CHARS || multibase[0] !== "z") {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "multikey must be a base58btc multibase value (z...)");
  }
  try {
    return base58Decode(multibase.slice(1), "multikey");
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "multikey is not valid base58btc", { cause });
  }
}

/** Which curve a multicodec-prefixed key uses, or undefined when the prefix is not one we support. */
function curveOf(bytes: Uint8Array): Curve | undefined {
  for (const crv of ["Ed25519", "X25519", "P-256"] as const) {
    const [a, b] = PREFIX[crv];
    if (bytes[0] === a && bytes[1] === b) return crv;
  }
  return undefined;
}

/** Converts raw public key bytes of a known curve to a JWK (P-256: compressed point, decompressed here). */
export function rawToJwk(crv: Curve, raw: Uint8Array): PublicJwk {
  if (raw.length !== RAW_BYTES[crv]) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${crv} public key must be ${RAW_BYTES[crv]} bytes`);
  }
  if (crv !== "P-256") return { kty: "OKP", crv, x: b64uEncode(raw) };
  let uncompressed: Uint8Array;
  try {
    uncompressed = p256.Point.fromBytes(raw).toBytes(false);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "P-256 public key is not a valid point", { cause });
  }
  return { kty: "EC", crv, x: b64uEncode(uncompressed.subarray(1, 33)), y: b64uEncode(uncompressed.subarray(33, 65)) };
}

/** Parses a Multikey value ("z6Mk...", "z6LS...", "zDn...") into a public JWK. */
export function multikeyToJwk(multibase: string): PublicJwk {
  const bytes = decodeMultibase(multibase);
  const crv = curveOf(bytes);
  if (crv === undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "multikey uses an unsupported multicodec");
  return rawToJwk(crv, bytes.subarray(2));
}

/**
 * For the 2020 suites: `publicKeyMultibase` should carry the multicodec header, but some writers emit the
 * bare 32 bytes. Accepts both, and insists the header (when present) matches the type's curve.
 */
export function multibaseToJwk(multibase: string, crv: "X25519" | "Ed25519"): PublicJwk {
  const bytes = decodeMultibase(multibase);
  if (bytes.length === RAW_BYTES[crv]) return rawToJwk(crv, bytes);
  const found = curveOf(bytes);
  if (found !== crv) throw new DidcommError(DidcommErrorCode.InvalidKey, `multibase key is not an ${crv} key`);
  return rawToJwk(crv, bytes.subarray(2));
}

/** Encodes a public JWK as a Multikey value (P-256 in compressed form). */
export function jwkToMultikey(jwk: PublicJwk): string {
  const crv = jwk.crv;
  const prefix = PREFIX[crv];
  if (prefix === undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported crv for multikey");
  const x = b64uDecode(jwk.x, "JWK x");
  let raw: Uint8Array;
  if (crv === "P-256") {
    if (jwk.y === undefined) throw new DidcommError(DidcommErrorCode.InvalidKey, "P-256 JWK lacks y");
    const y = b64uDecode(jwk.y, "JWK y");
    if (x.length !== 32 || y.length !== 32) throw new DidcommError(DidcommErrorCode.InvalidKey, "P-256 JWK coordinates must be 32 bytes");
    const uncompressed = new Uint8Array(65);
    uncompressed[0] = 4;
    uncompressed.set(x, 1);
    uncompressed.set(y, 33);
    try {
      raw = p256.Point.fromBytes(uncompressed).toBytes(true); // also checks the point is on the curve
    } catch (cause) {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "P-256 JWK is not a valid point", { cause });
    }
  } else {
    if (x.length !== 32) throw new DidcommError(DidcommErrorCode.InvalidKey, `${crv} JWK x must be 32 bytes`);
    raw = x;
  }
  const out = new Uint8Array(2 + raw.length);
  out[0] = prefix[0];
  out[1] = prefix[1];
  out.set(raw, 2);
  return "z" + base58Encode(out);
}

/** The X25519 public key birationally equivalent to an Ed25519 public key (did:key keyAgreement). */
export function ed25519ToX25519(jwk: PublicJwk): PublicJwk {
  if (jwk.crv !== "Ed25519") throw new DidcommError(DidcommErrorCode.InvalidKey, "expected an Ed25519 key");
  const x = b64uDecode(jwk.x, "JWK x");
  if (x.length !== 32) throw new DidcommError(DidcommErrorCode.InvalidKey, "Ed25519 JWK x must be 32 bytes");
  try {
    return { kty: "OKP", crv: "X25519", x: b64uEncode(ed25519.utils.toMontgomery(x)) };
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "Ed25519 public key is not a valid point", { cause });
  }
}
