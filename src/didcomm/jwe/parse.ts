// Strict parser for untrusted JWEs (General JSON): every field type-checked, decoded and length-checked.
import { cekLength, isContentEnc, ivLength, tagLength } from "../crypto/content.ts";
import { b64uDecode, b64uDecodeJson, b64uEncode, parseJsonObject, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import { isAgreementCurve, toPublicJwk } from "../keys/jwk.ts";
import { apvDigest } from "./apv.ts";
import { ANON_ALG, AUTH_ALG, type JweProtectedHeader, type KeyWrapAlg, type ParseJweOptions, type ParsedJwe } from "./types.ts";

const HARD_MAX_RECIPIENTS = 10_000;
const DEFAULT_MAX_RECIPIENTS = 256;
const DEFAULT_MAX_KID = 2048;
const DEFAULT_MAX_PROTECTED = 64 * 1024;
const A256KW_OVERHEAD = 8;

/** Cheap structural sniff (no decoding): does `obj` look like a General JSON JWE? */
export function isJweShape(obj: unknown): boolean {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
  const o = obj as Record<string, unknown>;
  return typeof o.protected === "string" && Array.isArray(o.recipients) && typeof o.ciphertext === "string";
}

/**
 * Parses a JWE object (or its JSON text). Errors: Malformed (structure, encoding, lengths, apv not
 * matching the recipient kids), Unsupported (alg/enc/crit/zip/aad), InvalidKey (bad epk),
 * SenderMismatch (skid differs from apu). Never returns a partially checked value.
 */
export function parseJwe(input: unknown, opts: ParseJweOptions = {}): ParsedJwe {
  try {
    return parseJweUnchecked(input, opts);
  } catch (e) {
    // Hostile shapes (getters, proxies, huge nesting) must still surface as a typed error.
    if (isDidcommError(e)) throw e;
    throw new DidcommError(DidcommErrorCode.Malformed, "JWE could not be parsed", { cause: e });
  }
}

function parseJweUnchecked(input: unknown, opts: ParseJweOptions): ParsedJwe {
  const maxRecipients = clamp(opts.maxRecipients, DEFAULT_MAX_RECIPIENTS, HARD_MAX_RECIPIENTS);
  const maxKid = clamp(opts.maxKidLength, DEFAULT_MAX_KID, 1 << 16);
  const maxProtected = clamp(opts.maxProtectedLength, DEFAULT_MAX_PROTECTED, 1 << 20);

  const o = typeof input === "string" ? parseJsonObject(input, "JWE") : input;
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw malformed("JWE is not an object");
  const jwe = o as Record<string, unknown>;
  if (jwe.aad !== undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "JWE aad member is not supported");

  const protectedB64 = jwe.protected;
  if (typeof protectedB64 !== "string" || protectedB64.length === 0) throw malformed("JWE protected header missing");
  if (protectedB64.length > maxProtected) throw new DidcommError(DidcommErrorCode.TooLarge, "JWE protected header too large");
  const header = parseHeader(b64uDecodeJson(protectedB64, "JWE protected header"), maxKid);

  const rawRecipients = jwe.recipients;
  if (!Array.isArray(rawRecipients) || rawRecipients.length === 0) throw malformed("JWE recipients missing");
  if (rawRecipients.length > maxRecipients) throw new DidcommError(DidcommErrorCode.TooLarge, "too many JWE recipients");
  const wrappedBytes = cekLength(header.enc) + A256KW_OVERHEAD;
  const seen = new Set<string>();
  const recipients = rawRecipients.map((r: unknown) => {
    if (r === null || typeof r !== "object" || Array.isArray(r)) throw malformed("JWE recipient is not an object");
    const rec = r as Record<string, unknown>;
    const h = rec.header;
    if (h === null || typeof h !== "object" || Array.isArray(h)) throw malformed("JWE recipient header missing");
    const kid = (h as Record<string, unknown>).kid;
    if (typeof kid !== "string" || kid.length === 0 || kid.length > maxKid) throw malformed("JWE recipient kid invalid");
    if (seen.has(kid)) throw malformed("duplicate JWE recipient kid");
    seen.add(kid);
    if (typeof rec.encrypted_key !== "string") throw malformed("JWE encrypted_key missing");
    const encryptedKey = b64uDecode(rec.encrypted_key, "JWE encrypted_key");
    if (encryptedKey.length !== wrappedBytes) throw malformed("JWE encrypted_key has wrong length");
    return { kid, encryptedKey };
  });

  // apv binds the recipient list into every KEK; a mismatch means the list was altered (or a
  // non-DIDComm producer): reject before any key agreement work, as didcomm-rust does.
  if (b64uEncode(apvDigest(recipients.map((r) => r.kid))) !== header.apv) {
    throw malformed("JWE apv does not match the recipient kids");
  }

  const iv = decodeField(jwe.iv, "iv");
  const ciphertext = decodeField(jwe.ciphertext, "ciphertext");
  const tag = decodeField(jwe.tag, "tag");
  if (iv.length !== ivLength(header.enc)) throw malformed("JWE iv has wrong length");
  if (tag.length !== tagLength(header.enc)) throw malformed("JWE tag has wrong length");
  return { protectedB64, header, recipients, iv, ciphertext, tag };
}

function parseHeader(h: Record<string, unknown>, maxKid: number): JweProtectedHeader {
  if (h.crit !== undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "JWE crit header is not supported");
  if (h.zip !== undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "JWE compression is not supported");
  const alg = h.alg;
  if (typeof alg !== "string") throw malformed("JWE alg missing");
  if (alg !== ANON_ALG && alg !== AUTH_ALG) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported JWE alg");
  const enc = h.enc;
  if (typeof enc !== "string") throw malformed("JWE enc missing");
  if (!isContentEnc(enc)) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported JWE enc");
  if (alg === AUTH_ALG && enc !== "A256CBC-HS512") {
    throw new DidcommError(DidcommErrorCode.Unsupported, "ECDH-1PU requires A256CBC-HS512");
  }
  if (h.epk === undefined) throw malformed("JWE epk missing");
  const epk = toPublicJwk(h.epk, "JWE epk");
  if (!isAgreementCurve(epk.crv)) throw new DidcommError(DidcommErrorCode.Unsupported, "JWE epk curve is not a key agreement curve");

  const apv = h.apv;
  if (typeof apv !== "string") throw malformed("JWE apv missing");
  b64uDecode(apv, "JWE apv");
  const out: JweProtectedHeader = { alg: alg as KeyWrapAlg, enc, epk, apv };

  const apu = optionalString(h.apu, "apu", maxKid * 2);
  const skid = optionalString(h.skid, "skid", maxKid);
  const typ = optionalString(h.typ, "typ", 256);
  const cty = optionalString(h.cty, "cty", 256);
  if (apu !== undefined) {
    const apuText = b64uDecode(apu, "JWE apu");
    out.apu = apu;
    if (skid !== undefined && utf8DecodeOrNull(apuText) !== skid) {
      throw new DidcommError(DidcommErrorCode.SenderMismatch, "JWE apu does not match skid");
    }
  }
  if (alg === AUTH_ALG && apu === undefined) throw malformed("ECDH-1PU JWE needs apu");
  if (skid !== undefined) out.skid = skid;
  if (typ !== undefined) out.typ = typ;
  if (cty !== undefined) out.cty = cty;
  return out;
}

function utf8DecodeOrNull(bytes: Uint8Array): string | null {
  try {
    return utf8Decode(bytes);
  } catch {
    return null;
  }
}

function optionalString(value: unknown, what: string, maxLength: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > maxLength) throw malformed(`JWE ${what} invalid`);
  return value;
}

function decodeField(value: unknown, what: string): Uint8Array {
  if (typeof value !== "string") throw malformed(`JWE ${what} missing`);
  return b64uDecode(value, `JWE ${what}`);
}

function clamp(value: number | undefined, fallback: number, hardMax: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(Math.max(1, Math.floor(value)), hardMax);
}

function malformed(message: string): DidcommError {
  return new DidcommError(DidcommErrorCode.Malformed, message);
}
