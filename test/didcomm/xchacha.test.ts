// The native (libsodium) and pure-JS XChaCha20-Poly1305 backends must agree byte for byte.
import { describe, expect, it } from "bun:test";
import { nobleXChaCha, xchacha } from "../../src/didcomm/crypto/index.ts";
import { Rng, seedFromEnv } from "../support/random.ts";

describe("XC20P backends", () => {
  it("uses libsodium on this platform", () => {
    // Linux x64 has a sodium-native prebuild; losing it would silently cost 8x on XC20P unpack.
    expect(xchacha.name).toBe("sodium-native");
  });

  it("agree on seal and open for random inputs, and both reject tampering", () => {
    const seed = seedFromEnv();
    console.log(`xchacha agreement SEED=${seed}`);
    const rng = new Rng(seed);
    for (let i = 0; i < 300; i++) {
      const key = rng.bytes(32);
      const nonce = rng.bytes(24);
      const aad = rng.bytes(rng.int(64));
      const plain = rng.bytes(rng.int(4096));
      const a = xchacha.seal(key, nonce, aad, plain);
      const b = nobleXChaCha.seal(key, nonce, aad, plain);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(Buffer.from(xchacha.open(key, nonce, aad, b)!).equals(Buffer.from(plain))).toBe(true);
      const bad = a.slice();
      bad[rng.int(bad.length)]! ^= 1 << rng.int(8);
      expect(xchacha.open(key, nonce, aad, bad)).toBeNull();
      expect(nobleXChaCha.open(key, nonce, aad, bad)).toBeNull();
    }
    expect(xchacha.open(new Uint8Array(32), new Uint8Array(24), new Uint8Array(0), new Uint8Array(5))).toBeNull();
  });
});
