// AES-256 Key Wrap (RFC 3394, JOSE "A256KW") via @noble/ciphers; Bun's node:crypto lacks id-aes256-wrap.
import { aeskw } from "@noble/ciphers/aes.js";
import { DidcommError, DidcommErrorCode } from "../errors.ts";

const KEK_BYTES = 32;
const MAX_KEY_BYTES = 1024;

/** Wraps `cek` (a multiple of 8 bytes, at least 16) under the 32-byte `kek`. */
export function wrapA256KW(kek: Uint8Array, cek: Uint8Array): Uint8Array {
  if (kek.length !== KEK_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "A256KW needs a 32-byte KEK");
  if (cek.length < 16 || cek.length % 8 !== 0 || cek.length > MAX_KEY_BYTES) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "key to wrap has an invalid length");
  }
  return aeskw(kek).encrypt(cek);
}

/** Unwraps; any integrity failure (wrong KEK, tampered input) is DecryptFailed. */
export function unwrapA256KW(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  if (kek.length !== KEK_BYTES) throw new DidcommError(DidcommErrorCode.InvalidKey, "A256KW needs a 32-byte KEK");
  if (wrapped.length < 24 || wrapped.length % 8 !== 0 || wrapped.length > MAX_KEY_BYTES + 8) {
    throw new DidcommError(DidcommErrorCode.DecryptFailed, "wrapped key has an invalid length");
  }
  try {
    return aeskw(kek).decrypt(wrapped);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.DecryptFailed, "key unwrap failed", { cause });
  }
}
