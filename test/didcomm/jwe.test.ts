// JWE anoncrypt/authcrypt: round trips over every alg x enc x curve, strict parsing, and every tamper case.
import { describe, expect, test } from "bun:test";
import { type ContentEnc, CONTENT_ENCS } from "../../src/didcomm/crypto/index.ts";
import { b64uDecodeJson, b64uEncode, b64uEncodeJson, utf8Encode } from "../../src/didcomm/encoding/base64url.ts";
import { DidcommError, type DidcommErrorCode } from "../../src/didcomm/errors.ts";
import {
  type JweGeneral,
  computeApv,
  decryptJwe,
  encryptAnon,
  encryptAuth,
  isJweShape,
  parseJwe,
} from "../../src/didcomm/jwe/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { type KeyRef, type PrivateJwk, publicPart } from "../../src/didcomm/keys/jwk.ts";
import { NODE_ANON_ALG, nodeEnv, nodePackEncrypted, nodeUnpack } from "../support/didcomm-node.ts";
import { DocResolver, KeySecrets, makeParty, type Party } from "../support/world.ts";

type AgreementCurve = "X25519" | "P-256";
const CURVES: AgreementCurve[] = ["X25519", "P-256"];

function keyRef(kid: string, crv: AgreementCurve): KeyRef<PrivateJwk> {
  return { kid, jwk: generateJwk(crv) };
}
function pubRef(k: KeyRef<PrivateJwk>): KeyRef {
  return { kid: k.kid, jwk: publicPart(k.jwk) };
}
function party(name: string, crv: AgreementCurve, n: number): KeyRef<PrivateJwk>[] {
  return Array.from({ length: n }, (_, i) => keyRef(`did:example:${name}#key-${crv}-${i + 1}`, crv));
}

function codeOf(fn: () => unknown): DidcommErrorCode | "no-error" | "not-didcomm-error" {
  try {
    fn();
    return "no-error";
  } catch (e) {
    return e instanceof DidcommError ? e.code : "not-didcomm-error";
  }
}

const clone = (jwe: JweGeneral): JweGeneral => structuredClone(jwe);
// Flips one bit of a base64url field's decoded bytes, keeping its length.
function flipField(value: string, index = 0): string {
  const bytes = Buffer.from(value, "base64url");
  bytes[index] = bytes[index]! ^ 0x01;
  return b64uEncode(bytes);
}
function withHeader(jwe: JweGeneral, edit: (h: Record<string, unknown>) => void): JweGeneral {
  const h = b64uDecodeJson(jwe.protected);
  edit(h);
  return { ...clone(jwe), protected: b64uEncodeJson(h) };
}

const plaintext = utf8Encode(JSON.stringify({ id: "1", type: "https://didcomm.org/test/1.0/x", body: { s: "x".repeat(300) } }));

describe("anoncrypt round trips (ECDH-ES+A256KW)", () => {
  for (const crv of CURVES) {
    for (const enc of CONTENT_ENCS) {
      for (const n of [1, 3]) {
        test(`${crv} ${enc} ${n} recipient(s)`, () => {
          const bob = party("bob", crv, n);
          const jwe = encryptAnon(plaintext, bob.map(pubRef), { enc });
          const parsed = parseJwe(JSON.parse(JSON.stringify(jwe)));
          expect(parsed.header.alg).toBe("ECDH-ES+A256KW");
          expect(parsed.header.enc).toBe(enc);
          expect(parsed.header.typ).toBe("application/didcomm-encrypted+json");
          expect(parsed.header.epk.crv).toBe(crv);
          expect(parsed.header.apu).toBeUndefined();
          expect(parsed.header.skid).toBeUndefined();
          expect(parsed.header.apv).toBe(computeApv(bob.map((k) => k.kid)));
          expect(parsed.recipients.map((r) => r.kid)).toEqual(bob.map((k) => k.kid));
          for (const k of bob) expect(decryptJwe(parsed, k)).toEqual(plaintext);
        });
      }
    }
  }

  test("default enc is XC20P; typ and cty can be set", () => {
    const [bob] = party("bob", "X25519", 1);
    const jwe = encryptAnon(plaintext, [pubRef(bob!)], { typ: "application/x-test", cty: "application/json" });
    const parsed = parseJwe(jwe);
    expect(parsed.header.enc).toBe("XC20P");
    expect(parsed.header.typ).toBe("application/x-test");
    expect(parsed.header.cty).toBe("application/json");
    expect(decryptJwe(parsed, bob!)).toEqual(plaintext);
  });

  test("each envelope has a fresh ephemeral key and CEK", () => {
    const [bob] = party("bob", "X25519", 1);
    const a = parseJwe(encryptAnon(plaintext, [pubRef(bob!)]));
    const b = parseJwe(encryptAnon(plaintext, [pubRef(bob!)]));
    expect(a.header.epk.x).not.toBe(b.header.epk.x);
    expect(b64uEncode(a.recipients[0]!.encryptedKey)).not.toBe(b64uEncode(b.recipients[0]!.encryptedKey));
  });
});

describe("authcrypt round trips (ECDH-1PU+A256KW, A256CBC-HS512)", () => {
  for (const crv of CURVES) {
    for (const n of [1, 3]) {
      test(`${crv} ${n} recipient(s)`, () => {
        const [alice] = party("alice", crv, 1);
        const bob = party("bob", crv, n);
        const jwe = encryptAuth(plaintext, alice!, bob.map(pubRef));
        const parsed = parseJwe(JSON.stringify(jwe));
        expect(parsed.header.alg).toBe("ECDH-1PU+A256KW");
        expect(parsed.header.enc).toBe("A256CBC-HS512");
        expect(parsed.header.skid).toBe(alice!.kid);
        expect(parsed.header.apu).toBe(b64uEncode(utf8Encode(alice!.kid)));
        expect(parsed.header.apv).toBe(computeApv(bob.map((k) => k.kid)));
        for (const k of bob) expect(decryptJwe(parsed, k, pubRef(alice!))).toEqual(plaintext);
      });
    }
  }
});

describe("apv", () => {
  test("sorted kids joined with '.', independent of recipient order", () => {
    const expected = b64uEncode(new Bun.CryptoHasher("sha256").update("did:a#1.did:b#1.did:c#1").digest());
    expect(computeApv(["did:c#1", "did:a#1", "did:b#1"])).toBe(expected);
  });
});

describe("decrypt failures", () => {
  for (const crv of CURVES) {
    describe(crv, () => {
      const [alice] = party("alice", crv, 1);
      const bob = party("bob", crv, 2);
      const anon = encryptAnon(plaintext, bob.map(pubRef), { enc: "A256GCM" });
      const auth = encryptAuth(plaintext, alice!, bob.map(pubRef));
      const cases: [string, JweGeneral, KeyRef | undefined][] = [
        ["anoncrypt", anon, undefined],
        ["authcrypt", auth, pubRef(alice!)],
      ];
      for (const [name, jwe, sender] of cases) {
        const decrypt = (j: JweGeneral, key = bob[0]!) => decryptJwe(parseJwe(j), key, sender);

        test(`${name}: untampered decrypts`, () => {
          expect(decrypt(jwe)).toEqual(plaintext);
        });
        test(`${name}: tampered ciphertext / tag / iv / encrypted_key -> DecryptFailed`, () => {
          expect(codeOf(() => decrypt({ ...clone(jwe), ciphertext: flipField(jwe.ciphertext, 5) }))).toBe("decrypt_failed");
          expect(codeOf(() => decrypt({ ...clone(jwe), tag: flipField(jwe.tag) }))).toBe("decrypt_failed");
          expect(codeOf(() => decrypt({ ...clone(jwe), iv: flipField(jwe.iv) }))).toBe("decrypt_failed");
          const ek = clone(jwe);
          ek.recipients[0]!.encrypted_key = flipField(ek.recipients[0]!.encrypted_key, 3);
          expect(codeOf(() => decrypt(ek))).toBe("decrypt_failed");
          // The other recipient's entry is untouched and still decrypts.
          expect(decrypt(ek, bob[1]!)).toEqual(plaintext);
        });
        test(`${name}: tampered protected header -> DecryptFailed`, () => {
          expect(codeOf(() => decrypt(withHeader(jwe, (h) => (h.typ = "application/didcomm-encrypted+jsoN"))))).toBe("decrypt_failed");
          expect(codeOf(() => decrypt(withHeader(jwe, (h) => (h.cty = "x"))))).toBe("decrypt_failed");
          const other = generateJwk(crv);
          expect(codeOf(() => decrypt(withHeader(jwe, (h) => (h.epk = publicPart(other)))))).toBe("decrypt_failed");
          // Same header JSON, different (equivalent) encoding: whitespace changes the AAD.
          const spaced = { ...clone(jwe), protected: b64uEncode(utf8Encode(JSON.stringify(b64uDecodeJson(jwe.protected), null, 1))) };
          expect(codeOf(() => decrypt(spaced))).toBe("decrypt_failed");
        });
        test(`${name}: wrong private key under the right kid -> DecryptFailed`, () => {
          expect(codeOf(() => decrypt(jwe, { kid: bob[0]!.kid, jwk: generateJwk(crv) }))).toBe("decrypt_failed");
        });
        test(`${name}: kid not addressed -> NoRecipient`, () => {
          expect(codeOf(() => decrypt(jwe, keyRef("did:example:carol#1", crv)))).toBe("no_recipient");
        });
        test(`${name}: wrong-curve recipient key -> InvalidKey`, () => {
          const otherCrv: AgreementCurve = crv === "X25519" ? "P-256" : "X25519";
          expect(codeOf(() => decrypt(jwe, { kid: bob[0]!.kid, jwk: generateJwk(otherCrv) }))).toBe("invalid_key");
        });
        test(`${name}: recipient list altered -> Malformed (apv mismatch)`, () => {
          const dropped = clone(jwe);
          dropped.recipients.pop();
          expect(codeOf(() => parseJwe(dropped))).toBe("malformed");
          const renamed = clone(jwe);
          renamed.recipients[1]!.header.kid = "did:example:mallory#1";
          expect(codeOf(() => parseJwe(renamed))).toBe("malformed");
          // Header apv rewritten to match the altered list: the AAD no longer matches.
          const both = withHeader(renamed, (h) => (h.apv = computeApv(renamed.recipients.map((r) => r.header.kid))));
          expect(codeOf(() => decrypt(both))).toBe("decrypt_failed");
        });
      }

      test("authcrypt: sender checks", () => {
        const p = parseJwe(auth);
        expect(codeOf(() => decryptJwe(p, bob[0]!))).toBe("key_not_found");
        expect(codeOf(() => decryptJwe(p, bob[0]!, { kid: "did:example:eve#1", jwk: publicPart(alice!.jwk) }))).toBe("sender_mismatch");
        // Right kid, wrong key: the KEK differs, unwrap fails.
        expect(codeOf(() => decryptJwe(p, bob[0]!, { kid: alice!.kid, jwk: publicPart(generateJwk(crv)) }))).toBe("decrypt_failed");
        const otherCrv: AgreementCurve = crv === "X25519" ? "P-256" : "X25519";
        expect(codeOf(() => decryptJwe(p, bob[0]!, { kid: alice!.kid, jwk: publicPart(generateJwk(otherCrv)) }))).toBe("invalid_key");
      });
      test("authcrypt: skid/apu mismatch -> SenderMismatch", () => {
        expect(codeOf(() => parseJwe(withHeader(auth, (h) => (h.skid = "did:example:eve#1"))))).toBe("sender_mismatch");
        expect(codeOf(() => parseJwe(withHeader(auth, (h) => (h.apu = b64uEncode(utf8Encode("did:example:eve#1"))))))).toBe("sender_mismatch");
      });
      test("authcrypt: sender named only by apu (no skid) still works", () => {
        const noSkid = withHeader(auth, (h) => delete h.skid);
        const p = parseJwe(noSkid);
        expect(p.header.skid).toBeUndefined();
        // The header changed, so the AAD changed: decryption must fail, but only after the sender check passed.
        expect(codeOf(() => decryptJwe(p, bob[0]!, pubRef(alice!)))).toBe("decrypt_failed");
        expect(codeOf(() => decryptJwe(p, bob[0]!, { kid: "did:example:eve#1", jwk: publicPart(alice!.jwk) }))).toBe("sender_mismatch");
      });
      test("anoncrypt: a sender cannot be claimed", () => {
        expect(codeOf(() => decryptJwe(parseJwe(anon), bob[0]!, pubRef(alice!)))).toBe("sender_mismatch");
      });
      test("authcrypt with a changed alg to anoncrypt does not decrypt", () => {
        const downgraded = withHeader(auth, (h) => {
          h.alg = "ECDH-ES+A256KW";
        });
        expect(codeOf(() => decryptJwe(parseJwe(downgraded), bob[0]!))).toBe("decrypt_failed");
      });
    });
  }
});

describe("encrypt argument checks", () => {
  test("mixed recipient curves -> InvalidKey", () => {
    const mixed = [keyRef("did:a#1", "X25519"), keyRef("did:a#2", "P-256")].map(pubRef);
    expect(codeOf(() => encryptAnon(plaintext, mixed))).toBe("invalid_key");
    expect(codeOf(() => encryptAuth(plaintext, keyRef("did:s#1", "X25519"), mixed))).toBe("invalid_key");
  });
  test("sender on another curve -> InvalidKey", () => {
    expect(codeOf(() => encryptAuth(plaintext, keyRef("did:s#1", "P-256"), [pubRef(keyRef("did:a#1", "X25519"))]))).toBe("invalid_key");
  });
  test("Ed25519 recipient -> InvalidKey; no recipients -> KeyNotFound; duplicate kids -> Malformed", () => {
    expect(codeOf(() => encryptAnon(plaintext, [{ kid: "did:a#1", jwk: publicPart(generateJwk("Ed25519")) }]))).toBe("invalid_key");
    expect(codeOf(() => encryptAnon(plaintext, []))).toBe("key_not_found");
    const k = pubRef(keyRef("did:a#1", "X25519"));
    expect(codeOf(() => encryptAnon(plaintext, [k, k]))).toBe("malformed");
  });
  test("unsupported enc -> Unsupported", () => {
    const k = [pubRef(keyRef("did:a#1", "X25519"))];
    expect(codeOf(() => encryptAnon(plaintext, k, { enc: "A128GCM" as ContentEnc }))).toBe("unsupported");
    expect(codeOf(() => encryptAuth(plaintext, keyRef("did:s#1", "X25519"), k, { enc: "XC20P" as "A256CBC-HS512" }))).toBe("unsupported");
  });
});

describe("strict parsing", () => {
  const [alice] = party("alice", "X25519", 1);
  const bob = party("bob", "X25519", 1);
  const jwe = encryptAnon(plaintext, bob.map(pubRef), { enc: "A256CBC-HS512" });
  const auth = encryptAuth(plaintext, alice!, bob.map(pubRef));

  test("isJweShape", () => {
    expect(isJweShape(jwe)).toBe(true);
    expect(isJweShape({ payload: "x", signatures: [] })).toBe(false);
    expect(isJweShape(null)).toBe(false);
    expect(isJweShape([jwe])).toBe(false);
  });
  test("unsupported alg / enc / crit / zip / aad -> Unsupported", () => {
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.alg = "ECDH-ES+A128KW"))))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.alg = "RSA-OAEP"))))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.enc = "A128CBC-HS256"))))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(auth, (h) => (h.enc = "XC20P"))))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.crit = ["exp"]))))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.zip = "DEF"))))).toBe("unsupported");
    expect(codeOf(() => parseJwe({ ...clone(jwe), aad: "eA" }))).toBe("unsupported");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.epk = publicPart(generateJwk("Ed25519"))))))).toBe("unsupported");
  });
  test("missing or mistyped fields -> Malformed", () => {
    for (const field of ["protected", "recipients", "iv", "ciphertext", "tag"] as const) {
      const j = clone(jwe) as unknown as Record<string, unknown>;
      delete j[field];
      expect(codeOf(() => parseJwe(j))).toBe("malformed");
      j[field] = 42;
      expect(codeOf(() => parseJwe(j))).toBe("malformed");
    }
    for (const field of ["alg", "enc", "apv", "epk"]) {
      expect(codeOf(() => parseJwe(withHeader(jwe, (h) => delete h[field])))).toBe("malformed");
    }
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.alg = 7))))).toBe("malformed");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.typ = 7))))).toBe("malformed");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.skid = ""))))).toBe("malformed");
    expect(codeOf(() => parseJwe(withHeader(auth, (h) => delete h.apu)))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), recipients: [] }))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), recipients: [{ encrypted_key: jwe.recipients[0]!.encrypted_key }] }))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), recipients: [{ header: { kid: 5 }, encrypted_key: "AA" }] }))).toBe("malformed");
    const dup = clone(jwe);
    dup.recipients.push(clone(jwe).recipients[0]!);
    expect(codeOf(() => parseJwe(dup))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), protected: "e30" }))).toBe("malformed"); // {}
    expect(codeOf(() => parseJwe({ ...clone(jwe), protected: "!!!" }))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), protected: b64uEncode(utf8Encode("[1]")) }))).toBe("malformed");
    expect(codeOf(() => parseJwe([]))).toBe("malformed");
    expect(codeOf(() => parseJwe(null))).toBe("malformed");
    expect(codeOf(() => parseJwe(42))).toBe("malformed");
  });
  test("bad epk -> InvalidKey", () => {
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.epk = { kty: "OKP", crv: "X25519", x: "AAAA" }))))).toBe("invalid_key");
    expect(codeOf(() => parseJwe(withHeader(jwe, (h) => (h.epk = { kty: "EC", crv: "X25519", x: (h.epk as { x: string }).x }))))).toBe("invalid_key");
  });
  test("wrong iv / tag / encrypted_key lengths -> Malformed", () => {
    expect(codeOf(() => parseJwe({ ...clone(jwe), iv: jwe.iv.slice(0, -2) }))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), tag: jwe.tag.slice(0, -2) }))).toBe("malformed");
    expect(codeOf(() => parseJwe({ ...clone(jwe), tag: jwe.tag + "AAAA" }))).toBe("malformed");
    const ek = clone(jwe);
    ek.recipients[0]!.encrypted_key = ek.recipients[0]!.encrypted_key.slice(0, -11);
    expect(codeOf(() => parseJwe(ek))).toBe("malformed");
  });
  test("truncated JSON text -> Malformed at every cut", () => {
    const text = JSON.stringify(jwe);
    for (let cut = 0; cut < text.length; cut += 7) {
      expect(codeOf(() => parseJwe(text.slice(0, cut)))).toBe("malformed");
    }
  });
  test("limits: too many recipients -> TooLarge", () => {
    const many = party("m", "X25519", 5);
    const j = encryptAnon(plaintext, many.map(pubRef));
    expect(codeOf(() => parseJwe(j, { maxRecipients: 4 }))).toBe("too_large");
    expect(parseJwe(j, { maxRecipients: 5 }).recipients.length).toBe(5);
    expect(codeOf(() => parseJwe(j, { maxProtectedLength: 10 }))).toBe("too_large");
  });
});

// Seeded mutation fuzz: any single-character change either still yields exactly the plaintext
// (impossible in practice) or throws a DidcommError; never a foreign error or a different result.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("mutation fuzz", () => {
  const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`jwe mutation fuzz seed=${seed} (replay with SEED=${seed})`);
  const rnd = mulberry32(seed);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_{}\":,[]. ";
  for (const [name, crv] of [["anoncrypt", "X25519"], ["authcrypt", "P-256"]] as const) {
    test(`${name} ${crv}: 300 random single-character mutations`, () => {
      const [alice] = party("alice", crv, 1);
      const bob = party("bob", crv, 2);
      const jwe =
        name === "anoncrypt" ? encryptAnon(plaintext, bob.map(pubRef)) : encryptAuth(plaintext, alice!, bob.map(pubRef));
      const text = JSON.stringify(jwe);
      const sender = name === "authcrypt" ? pubRef(alice!) : undefined;
      let rejected = 0;
      for (let i = 0; i < 300; i++) {
        const pos = Math.floor(rnd() * text.length);
        const ch = alphabet[Math.floor(rnd() * alphabet.length)]!;
        if (text[pos] === ch) continue;
        const mutated = text.slice(0, pos) + ch + text.slice(pos + 1);
        try {
          const out = decryptJwe(parseJwe(mutated), bob[0]!, sender);
          // Only a mutation outside the authenticated data (e.g. bob[1]'s encrypted_key) may still decrypt.
          expect(out).toEqual(plaintext);
        } catch (e) {
          if (!(e instanceof DidcommError)) throw new Error(`seed=${seed} i=${i}: non-DidcommError ${String(e)}`);
          rejected++;
        }
      }
      expect(rejected).toBeGreaterThan(200);
    });
  }
});

describe("apv ordering", () => {
  test("byte-wise UTF-8 order, also for kids beyond the BMP", () => {
    // U+FF01 (UTF-8 ef bc 81) sorts before U+1F600 (UTF-8 f0 9f 98 80) by bytes, but after it in UTF-16.
    const a = "did:x#\uFF01";
    const b = "did:x#\u{1F600}";
    const expected = b64uEncode(new Bun.CryptoHasher("sha256").update(`${a}.${b}`).digest());
    expect(computeApv([b, a])).toBe(expected);
    expect(computeApv([a, b])).toBe(expected);
    expect(computeApv(["did:b#1", "did:a#1"])).toBe(b64uEncode(new Bun.CryptoHasher("sha256").update("did:a#1.did:b#1").digest()));
    expect(computeApv(["did:only#1"])).toBe(b64uEncode(new Bun.CryptoHasher("sha256").update("did:only#1").digest()));
  });
});

// Interop at the JWE layer with didcomm-node (SICPA didcomm-rust as WASM): same apv/apu/KDF/AAD conventions.
describe("interop with didcomm-node", () => {
  const keyOf = (p: Party, kid: string): KeyRef<PrivateJwk> => p.keys.find((k) => k.kid === kid)!;
  for (const crv of CURVES) {
    const spec = crv === "X25519" ? { x25519: 2 } : { x25519: 0, p256: 2 };
    const alice = makeParty("alice", spec);
    const bob = makeParty("bob", spec);
    const resolver = new DocResolver([alice.doc, bob.doc]);
    const msg = { id: "m1", type: "https://example.org/t/1.0/x", from: alice.did, to: [bob.did], body: { crv } };

    for (const enc of CONTENT_ENCS) {
      test(`${crv} ${enc}: didcomm-node anoncrypt -> decryptJwe`, async () => {
        const { packed } = await nodePackEncrypted({ ...msg, from: undefined }, bob.did, nodeEnv(resolver, new KeySecrets([])), {
          encAlgAnon: NODE_ANON_ALG[enc],
        });
        const parsed = parseJwe(JSON.parse(packed));
        expect(parsed.header.enc).toBe(enc);
        expect(parsed.recipients.map((r) => r.kid).sort()).toEqual([...bob.agreement].sort());
        for (const kid of bob.agreement) {
          const out = JSON.parse(Buffer.from(decryptJwe(parsed, keyOf(bob, kid))).toString());
          expect(out.body).toEqual({ crv });
        }
      });
      test(`${crv} ${enc}: encryptAnon -> didcomm-node unpack`, async () => {
        const recipients = bob.agreement.map((kid) => ({ kid, jwk: publicPart(keyOf(bob, kid).jwk) }));
        const plain = utf8Encode(JSON.stringify({ typ: "application/didcomm-plain+json", ...msg, from: undefined }));
        const packed = JSON.stringify(encryptAnon(plain, recipients, { enc }));
        const out = await nodeUnpack(packed, nodeEnv(resolver, new KeySecrets(bob.keys)));
        expect(out.message.body).toEqual({ crv });
        expect(out.metadata.anonymous_sender).toBe(true);
        expect(out.metadata.enc_alg_anon).toBe(NODE_ANON_ALG[enc]);
      });
    }

    test(`${crv}: didcomm-node authcrypt -> decryptJwe`, async () => {
      const { packed, meta } = await nodePackEncrypted(msg, bob.did, nodeEnv(resolver, new KeySecrets(alice.keys)), { from: alice.did });
      const parsed = parseJwe(JSON.parse(packed));
      expect(parsed.header.alg).toBe("ECDH-1PU+A256KW");
      expect(parsed.header.skid).toBe(String(meta.from_kid));
      const senderKid = parsed.header.skid!;
      const sender = { kid: senderKid, jwk: publicPart(keyOf(alice, senderKid).jwk) };
      for (const r of parsed.recipients) {
        const out = JSON.parse(Buffer.from(decryptJwe(parsed, keyOf(bob, r.kid), sender)).toString());
        expect(out.body).toEqual({ crv });
      }
    });
    test(`${crv}: encryptAuth -> didcomm-node unpack`, async () => {
      const senderKid = alice.agreement[0]!;
      const recipients = bob.agreement.map((kid) => ({ kid, jwk: publicPart(keyOf(bob, kid).jwk) }));
      const plain = utf8Encode(JSON.stringify({ typ: "application/didcomm-plain+json", ...msg }));
      const packed = JSON.stringify(encryptAuth(plain, keyOf(alice, senderKid), recipients));
      const out = await nodeUnpack(packed, nodeEnv(resolver, new KeySecrets(bob.keys)));
      expect(out.message.body).toEqual({ crv });
      expect(out.metadata.authenticated).toBe(true);
      expect(out.metadata.encrypted_from_kid).toBe(senderKid);
    });
  }
});

describe("hostile input objects", () => {
  test("a throwing getter surfaces as Malformed, not a foreign error", () => {
    const hostile: Record<string, unknown> = { ...encryptAnon(plaintext, [pubRef(keyRef("did:a#1", "X25519"))]) };
    expect(codeOf(() => parseJwe(hostile))).toBe("no-error");
    Object.defineProperty(hostile, "iv", {
      get(): never {
        throw new TypeError("boom");
      },
    });
    expect(codeOf(() => parseJwe(hostile))).toBe("malformed");
  });
});
