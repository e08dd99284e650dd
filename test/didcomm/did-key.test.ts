// Multikey codec, base58, did:key and did:peer:0 against the did:key specification's published vectors.
import { describe, expect, test } from "bun:test";
import { base58 } from "@scure/base";
import { base58Decode, base58Encode } from "../../src/didcomm/did/base58.ts";
import { authenticationKeys, createResolver, didKeyFromJwk, didPeer0FromJwk, keyAgreementKeys, resolveDidKey, resolvePeer0 } from "../../src/didcomm/did/index.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { ed25519ToX25519, jwkToMultikey, multikeyToJwk } from "../../src/didcomm/keys/multikey.ts";

// did:key spec / published test vectors.
const ED_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const ED_DERIVED_X = "z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p";
const X_DID = "did:key:z6LShLeXRTzevtwcfehaGEzCMyL3bNsAeKCwcqwJxyCo63yE";
const P256_DID = "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof DidcommError) return e.code;
    throw e;
  }
  return "no error";
}

function seededBytes(seed: number, n: number): Uint8Array {
  let s = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe("base58", () => {
  test("matches @scure/base on random inputs, including leading zeros", () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    console.log(`base58 SEED=${seed}`);
    for (let i = 0; i < 200; i++) {
      const len = i % 70;
      const bytes = seededBytes(seed + i, len);
      if (i % 5 === 0 && len > 2) bytes[0] = bytes[1] = 0;
      const enc = base58Encode(bytes);
      expect(enc).toBe(base58.encode(bytes));
      expect(base58Decode(enc)).toEqual(bytes);
    }
  });
  test("round-trips inputs beyond @scure/base's 2 KiB cap", () => {
    const bytes = seededBytes(7, 6000);
    expect(base58Decode(base58Encode(bytes))).toEqual(bytes);
  });
  test("rejects characters outside the alphabet", () => {
    expect(code(() => base58Decode("abc0"))).toBe("malformed");
    expect(code(() => base58Decode("Il"))).toBe("malformed");
  });
});

describe("multikey", () => {
  test("derives the spec's X25519 key from the Ed25519 did:key", () => {
    const ed = multikeyToJwk(ED_DID.slice(8));
    expect(ed.crv).toBe("Ed25519");
    expect(jwkToMultikey(ed25519ToX25519(ed))).toBe(ED_DERIVED_X);
  });
  test("round-trips the spec's X25519 and P-256 (compressed) keys", () => {
    for (const did of [X_DID, P256_DID, ED_DID]) {
      const jwk = multikeyToJwk(did.slice(8));
      expect(jwkToMultikey(jwk)).toBe(did.slice(8));
    }
    const p = multikeyToJwk(P256_DID.slice(8));
    expect(p.kty).toBe("EC");
    expect(p.y).toBeString();
  });
  test("round-trips generated keys of every curve", () => {
    for (const crv of ["X25519", "Ed25519", "P-256"] as const) {
      const pub = publicPart(generateJwk(crv));
      expect(multikeyToJwk(jwkToMultikey(pub))).toEqual(pub);
    }
  });
  test("rejects bad input with typed errors", () => {
    expect(code(() => multikeyToJwk("6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"))).toBe("invalid_key");
    expect(code(() => multikeyToJwk("z" + "1".repeat(200)))).toBe("invalid_key");
    expect(code(() => multikeyToJwk("z" + base58.encode(new Uint8Array([0xe7, 0x01, ...new Uint8Array(33)]))))).toBe("unsupported");
    expect(code(() => multikeyToJwk("z" + base58.encode(new Uint8Array([0xed, 0x01, 1, 2, 3]))))).toBe("invalid_key");
    // 0x05 is not a valid SEC1 compressed-point tag.
    expect(code(() => multikeyToJwk("z" + base58.encode(new Uint8Array([0x80, 0x24, 5, ...new Uint8Array(32)]))))).toBe("invalid_key");
  });
});

describe("did:key", () => {
  test("Ed25519: authentication is the key, keyAgreement the derived X25519 key, kids as in the spec", () => {
    const doc = resolveDidKey(ED_DID);
    expect(doc.id).toBe(ED_DID);
    expect(authenticationKeys(doc).map((k) => k.kid)).toEqual([`${ED_DID}#${ED_DID.slice(8)}`]);
    expect(keyAgreementKeys(doc).map((k) => k.kid)).toEqual([`${ED_DID}#${ED_DERIVED_X}`]);
    expect(keyAgreementKeys(doc)[0]!.jwk.crv).toBe("X25519");
  });
  test("X25519 is keyAgreement only; P-256 is both", () => {
    const x = resolveDidKey(X_DID);
    expect(authenticationKeys(x)).toEqual([]);
    expect(keyAgreementKeys(x).length).toBe(1);
    const p = resolveDidKey(P256_DID);
    expect(authenticationKeys(p)[0]!.jwk.crv).toBe("P-256");
    expect(keyAgreementKeys(p)[0]!.kid).toBe(`${P256_DID}#${P256_DID.slice(8)}`);
  });
  test("didKeyFromJwk inverts resolution", () => {
    expect(didKeyFromJwk(multikeyToJwk(ED_DID.slice(8)))).toBe(ED_DID);
    const pub = publicPart(generateJwk("P-256"));
    expect(keyAgreementKeys(resolveDidKey(didKeyFromJwk(pub)))[0]!.jwk).toEqual(pub);
  });
  test("invalid did:key is DidInvalid", () => {
    expect(code(() => resolveDidKey("did:key:zzzz"))).toBe("did_invalid");
    expect(code(() => resolveDidKey("did:key:"))).toBe("did_invalid");
    expect(code(() => resolveDidKey("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0"))).toBe("did_invalid");
  });
});

describe("did:peer:0", () => {
  test("resolves like did:key under its own DID", async () => {
    const did = "did:peer:0" + ED_DID.slice(8);
    const doc = resolvePeer0(did);
    expect(keyAgreementKeys(doc)[0]!.kid).toBe(`${did}#${ED_DERIVED_X}`);
    expect(didPeer0FromJwk(multikeyToJwk(ED_DID.slice(8)))).toBe(did);
    expect((await createResolver({ web: false }).resolve(did)).id).toBe(did);
  });
});
