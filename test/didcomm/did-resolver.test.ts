// Cache (TTL, LRU, shared in-flight lookups, negative TTL), routing, static docs, resolveKey and vmToJwk.
import { describe, expect, test } from "bun:test";
import { base58 } from "@scure/base";
import {
  CachingResolver,
  createResolver,
  didOf,
  resolveKey,
  StaticResolver,
  vmToJwk,
  type DidDocument,
  type DidResolver,
} from "../../src/didcomm/did/index.ts";
import { b64uDecode } from "../../src/didcomm/encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../../src/didcomm/errors.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";

const X = publicPart(generateJwk("X25519"));
const ED = publicPart(generateJwk("Ed25519"));

function doc(id: string): DidDocument {
  return {
    id,
    verificationMethod: [{ id: `${id}#x`, type: "JsonWebKey2020", controller: id, publicKeyJwk: { ...X } }],
    keyAgreement: [`${id}#x`],
    authentication: [],
    service: [],
  };
}

/** Counts calls; fails for DIDs containing "bad". */
class Counting implements DidResolver {
  calls = 0;
  async resolve(did: string): Promise<DidDocument> {
    this.calls++;
    if (did.includes("bad")) throw new DidcommError(DidcommErrorCode.DidNotResolved, "nope");
    return doc(did);
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DidcommError) return e.code;
    throw e;
  }
  return "no error";
}

describe("CachingResolver", () => {
  test("serves from cache within the TTL and reloads after it", async () => {
    let now = 1000;
    const inner = new Counting();
    const c = new CachingResolver(inner, { ttlMs: 100, now: () => now });
    const a = await c.resolve("did:example:a");
    expect(await c.resolve("did:example:a")).toBe(a);
    expect(inner.calls).toBe(1);
    now += 100;
    await c.resolve("did:example:a");
    expect(inner.calls).toBe(2);
  });

  test("evicts the least recently used entry beyond maxEntries", async () => {
    const inner = new Counting();
    const c = new CachingResolver(inner, { maxEntries: 2, now: () => 0 });
    await c.resolve("did:example:a");
    await c.resolve("did:example:b");
    await c.resolve("did:example:a"); // a is now most recent
    await c.resolve("did:example:c"); // evicts b
    expect(c.size).toBe(2);
    inner.calls = 0;
    await c.resolve("did:example:a");
    expect(inner.calls).toBe(0);
    await c.resolve("did:example:b");
    expect(inner.calls).toBe(1);
  });

  test("concurrent lookups share one resolution", async () => {
    const inner = new Counting();
    const c = new CachingResolver(inner);
    const [a, b] = await Promise.all([c.resolve("did:example:a"), c.resolve("did:example:a")]);
    expect(a).toBe(b);
    expect(inner.calls).toBe(1);
  });

  test("failures are remembered only for the negative TTL", async () => {
    let now = 0;
    const inner = new Counting();
    const c = new CachingResolver(inner, { ttlMs: 60_000, negativeTtlMs: 10, now: () => now });
    expect(await codeOf(c.resolve("did:example:bad"))).toBe("did_not_resolved");
    expect(await codeOf(c.resolve("did:example:bad"))).toBe("did_not_resolved");
    expect(inner.calls).toBe(1);
    now = 10;
    await codeOf(c.resolve("did:example:bad"));
    expect(inner.calls).toBe(2);
    const noNeg = new CachingResolver(inner, { negativeTtlMs: 0 });
    await codeOf(noNeg.resolve("did:example:bad"));
    await codeOf(noNeg.resolve("did:example:bad"));
    expect(inner.calls).toBe(4);
  });

  test("cached documents are frozen (shared between callers)", async () => {
    const c = new CachingResolver(new Counting());
    const d = await c.resolve("did:example:a");
    expect(Object.isFrozen(d) && Object.isFrozen(d.verificationMethod[0])).toBe(true);
  });

  test("a non-DidcommError from a resolver becomes DidNotResolved", async () => {
    const c = new CachingResolver({ resolve: async () => { throw new TypeError("boom"); } });
    expect(await codeOf(c.resolve("did:example:a"))).toBe("did_not_resolved");
  });
});

describe("createResolver", () => {
  test("routes by method; unsupported methods and non-DIDs are DidInvalid", async () => {
    const r = createResolver({ web: false, static: [doc("did:example:alice")] });
    expect((await r.resolve("did:example:alice")).id).toBe("did:example:alice");
    expect((await r.resolve("did:example:alice#x")).id).toBe("did:example:alice");
    expect(await codeOf(r.resolve("did:example:bob"))).toBe("did_invalid");
    expect(await codeOf(r.resolve("did:web:example.com"))).toBe("did_invalid");
    expect(await codeOf(r.resolve("http://x"))).toBe("did_invalid");
    expect(await codeOf(r.resolve("did:" + "a".repeat(20_000)))).toBe("did_invalid");
    expect((await r.resolve("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")).keyAgreement.length).toBe(1);
  });

  test("StaticResolver answers by id and alsoKnownAs; unknown is DidNotResolved", async () => {
    const s = new StaticResolver([{ ...doc("did:example:a"), alsoKnownAs: ["did:example:alias"] }]);
    expect((await s.resolve("did:example:alias")).id).toBe("did:example:a");
    expect(await codeOf(s.resolve("did:example:zzz"))).toBe("did_not_resolved");
  });
});

describe("resolveKey and vmToJwk", () => {
  const r = createResolver({ web: false, static: [doc("did:example:alice")] });

  test("resolveKey finds keys and reports UnknownKid otherwise", async () => {
    expect(await resolveKey(r, "did:example:alice#x")).toEqual({ kid: "did:example:alice#x", jwk: X });
    expect(await codeOf(resolveKey(r, "did:example:alice#nope"))).toBe("unknown_kid");
    expect(await codeOf(resolveKey(r, "did:example:alice"))).toBe("unknown_kid");
  });

  test("didOf strips fragments and queries", () => {
    expect(didOf("did:example:a#k")).toBe("did:example:a");
    expect(didOf("did:example:a?x=1#k")).toBe("did:example:a");
    expect(didOf("did:example:a")).toBe("did:example:a");
  });

  test("2020 suites accept multibase with or without the multicodec header; mismatches fail", () => {
    const raw = b64uDecode(ED.x);
    const bare = { id: "did:example:a#1", type: "Ed25519VerificationKey2020", controller: "did:example:a", publicKeyMultibase: "z" + base58.encode(raw) };
    const prefixed = { ...bare, id: "did:example:a#2", publicKeyMultibase: "z" + base58.encode(new Uint8Array([0xed, 0x01, ...raw])) };
    const wrong = { ...bare, id: "did:example:a#3", publicKeyMultibase: "z" + base58.encode(new Uint8Array([0xec, 0x01, ...raw])) };
    expect(vmToJwk(bare)).toEqual(ED);
    expect(vmToJwk(prefixed)).toEqual(ED);
    expect(() => vmToJwk(wrong)).toThrow(DidcommError);
  });

  test("bad or unsupported methods throw typed errors", () => {
    const base = { id: "did:example:a#k", controller: "did:example:a" };
    const cases = [
      { ...base, type: "JsonWebKey2020", publicKeyJwk: { kty: "EC", crv: "secp256k1", x: "AA", y: "AA" } },
      { ...base, type: "JsonWebKey2020", publicKeyJwk: { kty: "OKP", crv: "X25519", x: "AAAA" } },
      { ...base, type: "EcdsaSecp256k1VerificationKey2019", publicKeyBase58: "abc" },
      { ...base, type: "X25519KeyAgreementKey2019", publicKeyBase58: "0OIl" },
      { ...base, type: "X25519KeyAgreementKey2019", publicKeyBase58: "abc" },
      { ...base, type: "Multikey" },
    ];
    for (const vm of cases) {
      expect(() => vmToJwk(vm)).toThrow(DidcommError);
    }
  });
});
