// Shared pieces of JWE construction: recipient checks, the ephemeral key, the protected header.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { b64uEncodeJson } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { KeyRef, PublicJwk } from "../keys/jwk.ts";
import { DIDCOMM_ENCRYPTED_TYP } from "./types.ts";

/** Most recipients one envelope may be encrypted to (bounds work per pack call). */
export const MAX_ENCRYPT_RECIPIENTS = 1000;
const MAX_HEADER_STRING = 2048;

export type AgreementCurve = "X25519" | "P-256";

/**
 * Checks the recipient list: non-empty, bounded, unique non-empty kids, one agreement curve for all.
 * Returns that curve (the ephemeral key must be on it).
 */
export function checkRecipients(recipients: readonly KeyRef[]): AgreementCurve {
  if (!Array.isArray(recipients) || recipients.length === 0) {
    throw new DidcommError(DidcommErrorCode.KeyNotFound, "no recipient keys to encrypt to");
  }
  if (recipients.length > MAX_ENCRYPT_RECIPIENTS) throw new DidcommError(DidcommErrorCode.TooLarge, "too many recipients");
  for (const r of recipients) {
    if (r === null || typeof r !== "object" || r.jwk === null || typeof r.jwk !== "object") {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "recipient key is not a KeyRef");
    }
  }
  const crv = recipients[0]!.jwk.crv;
  if (crv !== "X25519" && crv !== "P-256") {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${crv} is not a key agreement curve`);
  }
  const seen = new Set<string>();
  for (const r of recipients) {
    if (typeof r.kid !== "string" || r.kid.length === 0 || r.kid.length > MAX_HEADER_STRING) {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "recipient kid is missing or too long");
    }
    if (seen.has(r.kid)) throw new DidcommError(DidcommErrorCode.Malformed, "duplicate recipient kid");
    seen.add(r.kid);
    if (r.jwk.crv !== crv) throw new DidcommError(DidcommErrorCode.InvalidKey, "recipients use different curves");
  }
  return crv;
}

/** A fresh ephemeral key pair on `crv`: the native private key and the public JWK for `epk`. */
export function ephemeralKey(crv: AgreementCurve): { priv: KeyObject; epk: PublicJwk } {
  const pair = crv === "P-256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("x25519");
  const jwk = pair.publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || (crv === "P-256" && typeof jwk.y !== "string")) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "ephemeral key export failed");
  }
  const epk: PublicJwk = crv === "P-256" ? { kty: "EC", crv, x: jwk.x, y: jwk.y! } : { kty: "OKP", crv, x: jwk.x };
  return { priv: pair.privateKey, epk };
}

/** Serialises the protected header; optional string fields are checked and omitted when absent. */
export function encodeProtectedHeader(fields: {
  typ?: string;
  cty?: string;
  alg: string;
  enc: string;
  skid?: string;
  apu?: string;
  apv: string;
  epk: PublicJwk;
}): string {
  const typ = fields.typ ?? DIDCOMM_ENCRYPTED_TYP;
  checkHeaderString(typ, "typ");
  const header: Record<string, unknown> = { typ, alg: fields.alg, enc: fields.enc };
  if (fields.skid !== undefined) header.skid = fields.skid;
  if (fields.apu !== undefined) header.apu = fields.apu;
  header.apv = fields.apv;
  header.epk = fields.epk;
  if (fields.cty !== undefined) {
    checkHeaderString(fields.cty, "cty");
    header.cty = fields.cty;
  }
  return b64uEncodeJson(header);
}

function checkHeaderString(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_HEADER_STRING) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} must be a non-empty string`);
  }
}

/** The AAD for content encryption: the ASCII bytes of the protected header's base64url text. */
export function aadOf(protectedB64: string): Uint8Array {
  return Buffer.from(protectedB64, "latin1");
}

/** Z = Ze || Zs (ephemeral first), wiping the halves. */
export function concatZ(ze: Uint8Array, zs: Uint8Array): Uint8Array {
  const z = new Uint8Array(ze.length + zs.length);
  z.set(ze, 0);
  z.set(zs, ze.length);
  ze.fill(0);
  zs.fill(0);
  return z;
}
