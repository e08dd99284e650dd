// JWK shapes for the three curves Haven uses (X25519, P-256, Ed25519) and strict checks on them.
import { b64uDecode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";

export type Curve = "X25519" | "P-256" | "Ed25519";
export const CURVES: readonly Curve[] = ["X25519", "P-256", "Ed25519"];

/** A public key as a JWK. OKP for X25519/Ed25519 (only `x`), EC for P-256 (`x` and `y`). */
export interface PublicJwk {
  kty: "OKP" | "EC";
  crv: Curve;
  x: string;
  y?: string;
  kid?: string;
}

/** A private key as a JWK: the public part plus `d`. Never log or serialise one outside key files. */
export interface PrivateJwk extends PublicJwk {
  d: string;
}

/** A key bound to its DID URL (`did:...#fragment`), as used for `kid`/`skid`. */
export interface KeyRef<J extends PublicJwk = PublicJwk> {
  kid: string;
  jwk: J;
}

const COORD_BYTES: Record<Curve, number> = { X25519: 32, "P-256": 32, Ed25519: 32 };

/** Validates and normalises an untrusted JWK (public part only); throws InvalidKey / Unsupported. */
export function toPublicJwk(input: unknown, what = "JWK"): PublicJwk {
  if (input === null || typeof input !== "object") {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} is not an object`);
  }
  const j = input as Record<string, unknown>;
  const crv = j.crv;
  if (crv !== "X25519" && crv !== "P-256" && crv !== "Ed25519") {
    throw new DidcommError(DidcommErrorCode.Unsupported, `${what} has unsupported crv`);
  }
  const kty = crv === "P-256" ? "EC" : "OKP";
  if (j.kty !== kty) throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} kty does not match crv ${crv}`);
  checkCoord(j.x, crv, `${what} x`);
  const out: PublicJwk = { kty, crv, x: j.x as string };
  if (kty === "EC") {
    checkCoord(j.y, crv, `${what} y`);
    out.y = j.y as string;
  } else if (j.y !== undefined) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} has y for an OKP key`);
  }
  return out;
}

/** Validates an untrusted private JWK; the `d` value never appears in error messages. */
export function toPrivateJwk(input: unknown, what = "private JWK"): PrivateJwk {
  const pub = toPublicJwk(input, what);
  const d = (input as Record<string, unknown>).d;
  checkCoord(d, pub.crv, `${what} d`);
  return { ...pub, d: d as string };
}

/** Strips `d` (and anything else) to leave the public JWK. */
export function publicPart(jwk: PublicJwk): PublicJwk {
  const out: PublicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.y !== undefined) out.y = jwk.y;
  return out;
}

/** The DIDComm/JOSE key-agreement curves. */
export function isAgreementCurve(crv: Curve): crv is "X25519" | "P-256" {
  return crv === "X25519" || crv === "P-256";
}

function checkCoord(value: unknown, crv: Curve, what: string): void {
  if (typeof value !== "string") throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} missing`);
  const bytes = b64uDecode(value, what);
  if (bytes.length !== COORD_BYTES[crv]) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} must be ${COORD_BYTES[crv]} bytes`);
  }
}
