// Strict parser for untrusted JWSs (General JSON): headers type-checked, signatures decoded, not verified.
import { isSignAlg, SIGNATURE_BYTES } from "../crypto/sign.ts";
import { b64uDecode, b64uDecodeJson, parseJsonObject } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import type { ParseJwsOptions, ParsedJws } from "./types.ts";

const DEFAULT_MAX_SIGNATURES = 16;
const HARD_MAX_SIGNATURES = 256;
const DEFAULT_MAX_KID = 2048;
const MAX_PROTECTED_LENGTH = 16 * 1024;

/** Cheap structural sniff: does `obj` look like a General JSON JWS? */
export function isJwsShape(obj: unknown): boolean {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
  const o = obj as Record<string, unknown>;
  return typeof o.payload === "string" && Array.isArray(o.signatures);
}

/**
 * Parses a JWS object (or its JSON text). Malformed for structure/encoding/lengths, Unsupported
 * for an unknown alg, `crit` or `b64: false`. The kid comes from the unprotected header (or, failing
 * that, the protected one).
 */
export function parseJws(input: unknown, opts: ParseJwsOptions = {}): ParsedJws {
  try {
    return parseJwsUnchecked(input, opts);
  } catch (e) {
    // Hostile shapes (getters, proxies, huge nesting) must still surface as a typed error.
    if (isDidcommError(e)) throw e;
    throw new DidcommError(DidcommErrorCode.Malformed, "JWS could not be parsed", { cause: e });
  }
}

function parseJwsUnchecked(input: unknown, opts: ParseJwsOptions): ParsedJws {
  const maxSignatures = clamp(opts.maxSignatures, DEFAULT_MAX_SIGNATURES, HARD_MAX_SIGNATURES);
  const maxKid = clamp(opts.maxKidLength, DEFAULT_MAX_KID, 1 << 16);
  const o = typeof input === "string" ? parseJsonObject(input, "JWS") : input;
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw malformed("JWS is not an object");
  const jws = o as Record<string, unknown>;
  const payloadB64 = jws.payload;
  if (typeof payloadB64 !== "string") throw malformed("JWS payload missing");
  const payload = b64uDecode(payloadB64, "JWS payload");
  const raw = jws.signatures;
  if (!Array.isArray(raw) || raw.length === 0) throw malformed("JWS signatures missing");
  if (raw.length > maxSignatures) throw new DidcommError(DidcommErrorCode.TooLarge, "too many JWS signatures");
  const signatures = raw.map((s: unknown) => parseSignature(s, maxKid));
  return { payloadB64, payload, signatures };
}

function parseSignature(s: unknown, maxKid: number): ParsedJws["signatures"][number] {
  if (s === null || typeof s !== "object" || Array.isArray(s)) throw malformed("JWS signature is not an object");
  const sig = s as Record<string, unknown>;
  const protectedB64 = sig.protected;
  if (typeof protectedB64 !== "string" || protectedB64.length === 0) throw malformed("JWS protected header missing");
  if (protectedB64.length > MAX_PROTECTED_LENGTH) throw new DidcommError(DidcommErrorCode.TooLarge, "JWS protected header too large");
  const header = b64uDecodeJson(protectedB64, "JWS protected header");
  if (header.crit !== undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "JWS crit header is not supported");
  if (header.b64 !== undefined && header.b64 !== true) throw new DidcommError(DidcommErrorCode.Unsupported, "unencoded JWS payload is not supported");
  const alg = header.alg;
  if (typeof alg !== "string") throw malformed("JWS alg missing");
  if (!isSignAlg(alg)) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported JWS alg");
  const typ = header.typ;
  if (typ !== undefined && (typeof typ !== "string" || typ.length === 0 || typ.length > 256)) throw malformed("JWS typ invalid");

  const unprotected = sig.header;
  if (unprotected !== undefined && (unprotected === null || typeof unprotected !== "object" || Array.isArray(unprotected))) {
    throw malformed("JWS unprotected header is not an object");
  }
  const kid = (unprotected as Record<string, unknown> | undefined)?.kid ?? header.kid;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > maxKid) throw malformed("JWS kid missing or invalid");

  if (typeof sig.signature !== "string") throw malformed("JWS signature missing");
  const signature = b64uDecode(sig.signature, "JWS signature");
  if (signature.length !== SIGNATURE_BYTES) throw malformed("JWS signature has wrong length");
  const out: ParsedJws["signatures"][number] = { protectedB64, alg, kid, signature };
  if (typ !== undefined) out.typ = typ;
  return out;
}

function clamp(value: number | undefined, fallback: number, hardMax: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(Math.max(1, Math.floor(value)), hardMax);
}

function malformed(message: string): DidcommError {
  return new DidcommError(DidcommErrorCode.Malformed, message);
}
