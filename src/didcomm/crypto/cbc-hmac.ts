// A256CBC-HS512 (RFC 7518 §5.2): AES-256-CBC + HMAC-SHA-512 truncated to 256 bits, encrypt-then-MAC.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { DidcommError, DidcommErrorCode } from "../errors.ts";

export const CBC_HS512_KEY_BYTES = 64;
export const CBC_HS512_IV_BYTES = 16;
export const CBC_HS512_TAG_BYTES = 32;

/** Encrypts with the given 16-byte IV; returns ciphertext (PKCS#7 padded) and the 32-byte tag. */
export function cbcHs512Encrypt(
  cek: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  checkKey(cek, iv);
  const cipher = createCipheriv("aes-256-cbc", cek.subarray(32, 64), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = macTag(cek.subarray(0, 32), aad, iv, ciphertext);
  return { ciphertext, tag };
}

/** Checks the tag (constant time) before touching the ciphertext; any failure is DecryptFailed. */
export function cbcHs512Decrypt(
  cek: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  checkKey(cek, iv);
  if (tag.length !== CBC_HS512_TAG_BYTES) throw new DidcommError(DidcommErrorCode.Malformed, "tag has wrong length");
  const expected = macTag(cek.subarray(0, 32), aad, iv, ciphertext);
  if (!timingSafeEqual(expected, tag)) throw new DidcommError(DidcommErrorCode.DecryptFailed, "authentication tag mismatch");
  try {
    const decipher = createDecipheriv("aes-256-cbc", cek.subarray(32, 64), iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    // Unreachable for an authentic tag unless the sender padded wrongly; still never leak a TypeError.
    throw new DidcommError(DidcommErrorCode.DecryptFailed, "content decryption failed", { cause });
  }
}

// M = HMAC-SHA-512(MAC_KEY, A || IV || E || AL); T = M[0..32]. AL = AAD length in bits, 64-bit big-endian.
function macTag(macKey: Uint8Array, aad: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(aad.length) * 8n);
  const mac = createHmac("sha512", macKey).update(aad).update(iv).update(ciphertext).update(al).digest();
  return mac.subarray(0, CBC_HS512_TAG_BYTES);
}

function checkKey(cek: Uint8Array, iv: Uint8Array): void {
  if (cek.length !== CBC_HS512_KEY_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "A256CBC-HS512 needs a 64-byte key");
  if (iv.length !== CBC_HS512_IV_BYTES) throw new DidcommError(DidcommErrorCode.Malformed, "iv has wrong length");
}
