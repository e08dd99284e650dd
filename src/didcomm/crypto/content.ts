// Content encryption for JWE: A256CBC-HS512, A256GCM (native) and XC20P (libsodium or @noble/ciphers).
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { cbcHs512Decrypt, cbcHs512Encrypt } from "./cbc-hmac.ts";
import { xchacha } from "./xchacha.ts";

export type ContentEnc = "A256CBC-HS512" | "A256GCM" | "XC20P";
export const CONTENT_ENCS: readonly ContentEnc[] = ["A256CBC-HS512", "A256GCM", "XC20P"];

interface EncParams {
  keyBytes: number;
  ivBytes: number;
  tagBytes: number;
}
const PARAMS: Record<ContentEnc, EncParams> = {
  "A256CBC-HS512": { keyBytes: 64, ivBytes: 16, tagBytes: 32 },
  A256GCM: { keyBytes: 32, ivBytes: 12, tagBytes: 16 },
  XC20P: { keyBytes: 32, ivBytes: 24, tagBytes: 16 },
};

export function isContentEnc(value: unknown): value is ContentEnc {
  return value === "A256CBC-HS512" || value === "A256GCM" || value === "XC20P";
}

function params(enc: ContentEnc): EncParams {
  const p = PARAMS[enc];
  if (p === undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported enc");
  return p;
}

/** CEK length in bytes for `enc`. */
export function cekLength(enc: ContentEnc): number {
  return params(enc).keyBytes;
}
export function ivLength(enc: ContentEnc): number {
  return params(enc).ivBytes;
}
export function tagLength(enc: ContentEnc): number {
  return params(enc).tagBytes;
}

/**
 * Encrypts `plaintext` under `cek` with `aad` authenticated. A fresh random IV is used unless
 * `iv` is given (known-answer tests only: never reuse an IV with the same key).
 */
export function encryptContent(
  enc: ContentEnc,
  cek: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  iv?: Uint8Array,
): { iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array } {
  const p = params(enc);
  if (cek.length !== p.keyBytes) throw new DidcommError(DidcommErrorCode.InvalidKey, `${enc} needs a ${p.keyBytes}-byte key`);
  const nonce = iv ?? randomBytes(p.ivBytes);
  if (nonce.length !== p.ivBytes) throw new DidcommError(DidcommErrorCode.Malformed, "iv has wrong length");
  switch (enc) {
    case "A256CBC-HS512":
      return { iv: nonce, ...cbcHs512Encrypt(cek, nonce, plaintext, aad) };
    case "A256GCM": {
      const cipher = createCipheriv("aes-256-gcm", cek, nonce, { authTagLength: p.tagBytes });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { iv: nonce, ciphertext, tag: cipher.getAuthTag() };
    }
    case "XC20P": {
      const sealed = xchacha.seal(cek, nonce, aad, plaintext);
      const split = sealed.length - p.tagBytes;
      return { iv: nonce, ciphertext: sealed.subarray(0, split), tag: sealed.subarray(split) };
    }
  }
}

/** Authenticates and decrypts; wrong IV/tag length is Malformed, any authentication failure DecryptFailed. */
export function decryptContent(
  enc: ContentEnc,
  cek: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const p = params(enc);
  if (cek.length !== p.keyBytes) throw new DidcommError(DidcommErrorCode.InvalidKey, `${enc} needs a ${p.keyBytes}-byte key`);
  if (iv.length !== p.ivBytes) throw new DidcommError(DidcommErrorCode.Malformed, "iv has wrong length");
  if (tag.length !== p.tagBytes) throw new DidcommError(DidcommErrorCode.Malformed, "tag has wrong length");
  switch (enc) {
    case "A256CBC-HS512":
      return cbcHs512Decrypt(cek, iv, ciphertext, tag, aad);
    case "A256GCM":
      try {
        const decipher = createDecipheriv("aes-256-gcm", cek, iv, { authTagLength: p.tagBytes });
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch (cause) {
        throw new DidcommError(DidcommErrorCode.DecryptFailed, "content decryption failed", { cause });
      }
    case "XC20P": {
      const sealed = new Uint8Array(ciphertext.length + tag.length);
      sealed.set(ciphertext, 0);
      sealed.set(tag, ciphertext.length);
      const plain = xchacha.open(cek, iv, aad, sealed);
      if (plain === null) throw new DidcommError(DidcommErrorCode.DecryptFailed, "content decryption failed");
      return plain;
    }
  }
}
