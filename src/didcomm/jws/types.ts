// JWS shapes (RFC 7515 General JSON serialization) as used by DIDComm v2 signed messages.
import type { SignAlg } from "../crypto/sign.ts";

export const DIDCOMM_SIGNED_TYP = "application/didcomm-signed+json";

export interface JwsGeneral {
  payload: string;
  signatures: { protected: string; signature: string; header: { kid: string } }[];
}

/** A strictly parsed JWS; signatures are decoded but NOT verified (see verifyJwsSignature). */
export interface ParsedJws {
  payloadB64: string;
  payload: Uint8Array;
  signatures: { protectedB64: string; alg: SignAlg; kid: string; signature: Uint8Array; typ?: string }[];
}

/** Bounds on untrusted input; values are clamped to [1, hard max]. */
export interface ParseJwsOptions {
  /** Most signatures accepted (default 16, hard max 256). */
  maxSignatures?: number;
  /** Longest kid accepted in characters (default 2048). */
  maxKidLength?: number;
}
