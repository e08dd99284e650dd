// XChaCha20-Poly1305 (XC20P): libsodium through sodium-native when it loads, @noble/ciphers otherwise.
import { createRequire } from "node:module";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";

/**
 * Bun's node:crypto has no ChaCha20-Poly1305, and the pure-JS cipher costs ~16 µs per KB — the
 * largest share of unpacking an XC20P forward. libsodium (audited, native) is ~8x faster. Both are
 * the same primitive; a test checks they agree byte for byte.
 */
export interface XChaChaBackend {
  readonly name: "sodium-native" | "noble";
  /** Returns ciphertext || tag (16 bytes). */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns the plaintext, or null when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
}

const TAG_BYTES = 16;

export const nobleXChaCha: XChaChaBackend = {
  name: "noble",
  seal: (key, nonce, aad, plaintext) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open(key, nonce, aad, sealed) {
    try {
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};

interface SodiumAead {
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

function loadSodium(): XChaChaBackend | null {
  if (process.env.HAVEN_DISABLE_SODIUM === "1") return null;
  let sodium: SodiumAead;
  try {
    sodium = createRequire(import.meta.url)("sodium-native") as SodiumAead;
  } catch {
    return null; // no prebuilt binary for this platform: the JS cipher is correct, only slower
  }
  return {
    name: "sodium-native",
    seal(key, nonce, aad, plaintext) {
      const out = new Uint8Array(plaintext.length + TAG_BYTES);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
      return out;
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG_BYTES) return null;
      const out = new Uint8Array(sealed.length - TAG_BYTES);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key);
      } catch {
        return null;
      }
      return out;
    },
  };
}

/** The backend in use for this process (set once at load; HAVEN_DISABLE_SODIUM=1 forces noble). */
export const xchacha: XChaChaBackend = loadSodium() ?? nobleXChaCha;
