// JWE shapes (RFC 7516 General JSON serialization) as used by DIDComm v2 anoncrypt and authcrypt.
import type { ContentEnc } from "../crypto/content.ts";
import type { PublicJwk } from "../keys/jwk.ts";

export type KeyWrapAlg = "ECDH-ES+A256KW" | "ECDH-1PU+A256KW";
export const ANON_ALG: KeyWrapAlg = "ECDH-ES+A256KW";
export const AUTH_ALG: KeyWrapAlg = "ECDH-1PU+A256KW";
export const DIDCOMM_ENCRYPTED_TYP = "application/didcomm-encrypted+json";

/** A JWE in General JSON serialization, one entry per recipient key. */
export interface JweGeneral {
  protected: string;
  recipients: { header: { kid: string }; encrypted_key: string }[];
  iv: string;
  ciphertext: string;
  tag: string;
}

/** The decoded, type-checked protected header. `apu`/`apv` stay base64url as in the header. */
export interface JweProtectedHeader {
  alg: KeyWrapAlg;
  enc: ContentEnc;
  epk: PublicJwk;
  apv: string;
  apu?: string;
  skid?: string;
  typ?: string;
  cty?: string;
}

/** A strictly parsed JWE: every field decoded and length-checked, ready for decryptJwe. */
export interface ParsedJwe {
  /** The protected header exactly as received: its ASCII bytes are the content-encryption AAD. */
  protectedB64: string;
  header: JweProtectedHeader;
  recipients: { kid: string; encryptedKey: Uint8Array }[];
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** Encryption options shared by anoncrypt and authcrypt. */
export interface EncryptOptions<E extends ContentEnc = ContentEnc> {
  enc?: E;
  typ?: string;
  cty?: string;
}

/** Bounds on untrusted input; every value is clamped to [1, hard max]. */
export interface ParseJweOptions {
  /** Most recipients accepted (default 256, hard max 10000). */
  maxRecipients?: number;
  /** Longest `kid`/`skid` accepted, in characters (default 2048). */
  maxKidLength?: number;
  /** Longest protected header accepted, in base64url characters (default 64 KiB). */
  maxProtectedLength?: number;
}
