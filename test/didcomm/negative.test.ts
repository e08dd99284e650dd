// Negative end-to-end tests through unpack: every kind of bad envelope is a DidcommError with the expected stable code.
import { describe, expect, test } from "bun:test";
import { DidcommErrorCode as C } from "../../src/didcomm/errors.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { encryptAnon, encryptAuth } from "../../src/didcomm/jwe/index.ts";
import { signJws } from "../../src/didcomm/jws/index.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, packSigned, unpack, unpackForward } from "../../src/didcomm/pack/index.ts";
import type { DidcommContext } from "../../src/didcomm/pack/types.ts";
import { nodeEnv, nodePackEncrypted } from "../support/didcomm-node.ts";
import { expectDidcommError } from "../support/errors.ts";
import { DocResolver, KeySecrets, makeParty } from "../support/world.ts";

const alice = makeParty("alice", { x25519: 1, p256: 1, ed25519: 1, p256Sign: 1 });
const bob = makeParty("bob", { x25519: 2, p256: 1 });
const mallory = makeParty("mallory", { x25519: 1, p256: 1, ed25519: 1 });
const resolver = new DocResolver([alice.doc, bob.doc, mallory.doc]);
const ctx = (keys = bob.keys, extra: Partial<DidcommContext> = {}): DidcommContext => ({ resolver, secrets: new KeySecrets(keys), ...extra });
const aliceCtx = ctx(alice.keys);

/** A message to Bob; `from` null leaves the header out. */
function msg(from: string | null = alice.did): Message {
  const m: Message = { id: "neg-1", type: "https://example.org/test/1.0/x", to: [bob.did], body: { secret: "attack at dawn" } };
  if (from !== null) m.from = from;
  return m;
}

type Obj = Record<string, unknown>;
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const unb64u = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));
const header = (env: Obj) => JSON.parse(Buffer.from(String(env.protected), "base64url").toString("utf8")) as Obj;
const withHeader = (env: Obj, h: Obj): Obj => ({ ...env, protected: b64u(new TextEncoder().encode(JSON.stringify(h))) });
/** Flips one bit of a base64url field, keeping its length (so only the cryptography can notice). */
function flip(value: unknown, byteIndex = 0): string {
  const bytes = unb64u(String(value));
  bytes[byteIndex % bytes.length]! ^= 0x01;
  return b64u(bytes);
}
const recipients = (env: Obj) => env.recipients as { header: { kid: string }; encrypted_key: string }[];

/** Valid encrypted envelopes of every supported kind, from Haven and from didcomm-node. */
async function encryptedCases(): Promise<{ name: string; packed: string }[]> {
  const m = msg();
  const out: { name: string; packed: string }[] = [];
  for (const enc of ["XC20P", "A256GCM", "A256CBC-HS512"] as const) {
    out.push({ name: `Haven anoncrypt X25519 ${enc}`, packed: (await packEncrypted(m, bob.agreement[0]!, aliceCtx, { enc, forward: false })).packed });
  }
  out.push({ name: "Haven anoncrypt P-256 A256GCM", packed: (await packEncrypted(m, bob.agreement[2]!, aliceCtx, { enc: "A256GCM", forward: false })).packed });
  out.push({ name: "Haven authcrypt X25519", packed: (await packEncrypted(m, bob.did, aliceCtx, { from: alice.did, forward: false })).packed });
  out.push({ name: "Haven authcrypt P-256", packed: (await packEncrypted(m, bob.agreement[2]!, aliceCtx, { from: alice.did, forward: false })).packed });
  const nodeAlice = nodeEnv(resolver, new KeySecrets(alice.keys));
  out.push({ name: "didcomm-node anoncrypt XC20P", packed: (await nodePackEncrypted(m, bob.did, nodeAlice)).packed });
  out.push({ name: "didcomm-node authcrypt", packed: (await nodePackEncrypted(m, bob.did, nodeAlice, { from: alice.did })).packed });
  return out;
}
const cases = await encryptedCases();

describe("tampered JWE fields -> DecryptFailed", () => {
  for (const { name, packed } of cases) {
    const env = JSON.parse(packed) as Obj;

    test(`${name}: baseline unpacks`, async () => {
      expect((await unpack(packed, ctx())).message.body).toEqual({ secret: "attack at dawn" });
    });
    test(`${name}: ciphertext bit flip (first, middle, last byte)`, async () => {
      const len = unb64u(String(env.ciphertext)).length;
      for (const i of [0, len >> 1, len - 1]) {
        await expectDidcommError(() => unpack(JSON.stringify({ ...env, ciphertext: flip(env.ciphertext, i) }), ctx()), C.DecryptFailed);
      }
    });
    test(`${name}: tag bit flip`, async () => {
      await expectDidcommError(() => unpack(JSON.stringify({ ...env, tag: flip(env.tag, 5) }), ctx()), C.DecryptFailed);
    });
    test(`${name}: iv bit flip`, async () => {
      await expectDidcommError(() => unpack(JSON.stringify({ ...env, iv: flip(env.iv, 3) }), ctx()), C.DecryptFailed);
    });
    test(`${name}: encrypted_key bit flip on every recipient`, async () => {
      const rs = recipients(env).map((r) => ({ ...r, encrypted_key: flip(r.encrypted_key, 7) }));
      await expectDidcommError(() => unpack(JSON.stringify({ ...env, recipients: rs }), ctx()), C.DecryptFailed);
    });
    test(`${name}: protected header rewritten (extra member, same alg/enc) breaks the AAD`, async () => {
      await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, { ...header(env), x: 1 })), ctx()), C.DecryptFailed);
    });
    test(`${name}: protected header re-serialised with different whitespace breaks the AAD`, async () => {
      const h = header(env);
      const spaced = { ...env, protected: b64u(new TextEncoder().encode(JSON.stringify(h, null, 1))) };
      await expectDidcommError(() => unpack(JSON.stringify(spaced), ctx()), C.DecryptFailed);
    });
    test(`${name}: epk replaced by another valid key on the same curve`, async () => {
      const h = header(env);
      const epk = publicPart(generateJwk((h.epk as Obj).crv as "X25519" | "P-256"));
      await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, { ...h, epk })), ctx()), C.DecryptFailed);
    });
    test(`${name}: iv of the wrong length is Malformed`, async () => {
      await expectDidcommError(() => unpack(JSON.stringify({ ...env, iv: b64u(new Uint8Array(7)) }), ctx()), C.Malformed);
    });
    test(`${name}: recipient kid renamed (apv no longer matches) is Malformed`, async () => {
      const rs = recipients(env).map((r) => ({ ...r, header: { kid: r.header.kid + "x" } }));
      await expectDidcommError(() => unpack(JSON.stringify({ ...env, recipients: rs }), ctx()), C.Malformed);
    });
  }
});

describe("recipients and kids", () => {
  test("wrong recipient (we hold none of the keys) -> NoRecipient", async () => {
    for (const { packed } of cases) await expectDidcommError(() => unpack(packed, ctx(mallory.keys)), C.NoRecipient);
  });

  test("we hold a key with the recipient's kid but on another curve -> NoRecipient", async () => {
    const { packed } = await packEncrypted(msg(), bob.agreement[0]!, aliceCtx, { forward: false }); // X25519
    const wrongCurve = [{ kid: bob.agreement[0]!, jwk: generateJwk("P-256") }];
    await expectDidcommError(() => unpack(packed, ctx(wrongCurve)), C.NoRecipient);
  });

  test("we hold the kid but a different X25519 key (wrong private key) -> DecryptFailed", async () => {
    const { packed } = await packEncrypted(msg(), bob.agreement[0]!, aliceCtx, { forward: false });
    const imposter = [{ kid: bob.agreement[0]!, jwk: generateJwk("X25519") }];
    await expectDidcommError(() => unpack(packed, ctx(imposter)), C.DecryptFailed);
  });

  test("authcrypt skid naming a key absent from the sender's DID document -> UnknownKid", async () => {
    const sender = { kid: `${alice.did}#nope`, jwk: alice.keys.find((k) => k.kid === alice.agreement[0])!.jwk };
    const jwe = encryptAuth(new TextEncoder().encode(JSON.stringify(msg())), sender, [{ kid: bob.agreement[0]!, jwk: bob.doc.verificationMethod[0]!.publicKeyJwk as never }]);
    await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.UnknownKid);
  });

  test("authcrypt skid of an unresolvable DID -> DidNotResolved (retryable)", async () => {
    const sender = { kid: "did:example:ghost#k1", jwk: generateJwk("X25519") };
    const jwe = encryptAuth(new TextEncoder().encode(JSON.stringify(msg("did:example:ghost"))), sender, [
      { kid: bob.agreement[0]!, jwk: bob.doc.verificationMethod[0]!.publicKeyJwk as never },
    ]);
    const e = await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.DidNotResolved);
    expect(e.retryable).toBe(true);
  });

  test("JWS kid naming a key absent from the signer's DID document -> UnknownKid", async () => {
    const key = alice.keys.find((k) => k.kid === alice.auth[0])!;
    const jws = signJws(new TextEncoder().encode(JSON.stringify(msg())), [{ kid: `${alice.did}#nope`, jwk: key.jwk }]);
    await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.UnknownKid);
  });

  test("JWS kid naming a keyAgreement (not authentication) key -> UnknownKid", async () => {
    const key = alice.keys.find((k) => k.kid === alice.agreement[1])!; // P-256 agreement key, can sign ES256
    const jws = signJws(new TextEncoder().encode(JSON.stringify(msg())), [key]);
    await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.UnknownKid);
  });
});

describe("sender binding", () => {
  const bobX = { kid: bob.agreement[0]!, jwk: bob.doc.verificationMethod[0]!.publicKeyJwk as never };

  test("authcrypt by mallory of a message claiming from: alice -> SenderMismatch", async () => {
    const sender = mallory.keys.find((k) => k.kid === mallory.agreement[0])!;
    const jwe = encryptAuth(new TextEncoder().encode(JSON.stringify(msg(alice.did))), sender, [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.SenderMismatch);
  });

  test("authcrypt of a message without from -> SenderMismatch", async () => {
    const sender = alice.keys.find((k) => k.kid === alice.agreement[0])!;
    const jwe = encryptAuth(new TextEncoder().encode(JSON.stringify(msg(null))), sender, [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.SenderMismatch);
  });

  test("skid rewritten to differ from apu -> SenderMismatch", async () => {
    const env = JSON.parse((await packEncrypted(msg(), bob.did, aliceCtx, { from: alice.did, forward: false })).packed) as Obj;
    const h = { ...header(env), skid: mallory.agreement[0]! };
    await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, h)), ctx()), C.SenderMismatch);
  });

  test("skid and apu both rewritten to mallory's key -> DecryptFailed (1PU binds the sender's static key)", async () => {
    const env = JSON.parse((await packEncrypted(msg(), bob.did, aliceCtx, { from: alice.did, forward: false })).packed) as Obj;
    const kid = mallory.agreement[0]!;
    const h = { ...header(env), skid: kid, apu: b64u(new TextEncoder().encode(kid)) };
    await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, h)), ctx()), C.DecryptFailed);
  });

  test("JWS signed by mallory of a message claiming from: alice -> SenderMismatch", async () => {
    const key = mallory.keys.find((k) => k.kid === mallory.auth[0])!;
    const jws = signJws(new TextEncoder().encode(JSON.stringify(msg(alice.did))), [key]);
    await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.SenderMismatch);
  });

  test("mallory's signed message inside alice's authcrypt -> SenderMismatch", async () => {
    const jws = signJws(new TextEncoder().encode(JSON.stringify(msg(mallory.did))), [mallory.keys.find((k) => k.kid === mallory.auth[0])!]);
    const sender = alice.keys.find((k) => k.kid === alice.agreement[0])!;
    const jwe = encryptAuth(new TextEncoder().encode(JSON.stringify(jws)), sender, [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.SenderMismatch);
  });

  test("JWS payload swapped for another message -> InvalidSignature", async () => {
    const jws = JSON.parse(await packSigned(msg(), alice.auth[0]!, aliceCtx)) as Obj;
    const other = { ...msg(), body: { secret: "retreat" } };
    jws.payload = b64u(new TextEncoder().encode(JSON.stringify(other)));
    await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.InvalidSignature);
  });

  test("JWS signature bit flip (EdDSA and ES256) -> InvalidSignature", async () => {
    for (const kid of alice.auth) {
      const jws = JSON.parse(await packSigned(msg(), kid, aliceCtx)) as { signatures: Obj[] } & Obj;
      jws.signatures[0]!.signature = flip(jws.signatures[0]!.signature, 10);
      await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.InvalidSignature);
    }
  });

  test("JWS protected header alg swapped EdDSA -> ES256 -> InvalidSignature", async () => {
    const jws = JSON.parse(await packSigned(msg(), alice.auth[0]!, aliceCtx)) as { signatures: Obj[] } & Obj;
    const sig = jws.signatures[0]!;
    sig.protected = b64u(new TextEncoder().encode(JSON.stringify({ ...header(sig), alg: "ES256" })));
    await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.InvalidSignature, C.InvalidKey);
  });

  test("plaintext addressed to another DID than the key we decrypted with -> InvalidMessage", async () => {
    const m = { ...msg(), to: [mallory.did] };
    const jwe = encryptAnon(new TextEncoder().encode(JSON.stringify(m)), [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(jwe), ctx()), C.InvalidMessage);
  });
});

describe("unsupported algorithms", () => {
  const base = JSON.parse(cases[0]!.packed) as Obj;
  const auth = JSON.parse(cases.find((c) => c.name === "Haven authcrypt X25519")!.packed) as Obj;
  const rewrite = (env: Obj, patch: Obj) => JSON.stringify(withHeader(env, { ...header(env), ...patch }));

  for (const alg of ["ECDH-ES+A128KW", "ECDH-ES", "RSA-OAEP-256", "dir", "none"]) {
    test(`JWE alg ${alg} -> Unsupported`, async () => {
      await expectDidcommError(() => unpack(rewrite(base, { alg }), ctx()), C.Unsupported);
    });
  }
  for (const enc of ["A128GCM", "A128CBC-HS256", "C20P", "A256GCMKW"]) {
    test(`JWE enc ${enc} -> Unsupported`, async () => {
      await expectDidcommError(() => unpack(rewrite(base, { enc }), ctx()), C.Unsupported);
    });
  }
  test("ECDH-1PU with A256GCM (not allowed for authcrypt) -> Unsupported", async () => {
    await expectDidcommError(() => unpack(rewrite(auth, { enc: "A256GCM" }), ctx()), C.Unsupported);
  });
  test("epk on secp256k1 / P-384 / Ed25519 -> Unsupported", async () => {
    for (const epk of [
      { kty: "EC", crv: "secp256k1", x: b64u(new Uint8Array(32)), y: b64u(new Uint8Array(32)) },
      { kty: "EC", crv: "P-384", x: b64u(new Uint8Array(48)), y: b64u(new Uint8Array(48)) },
      publicPart(generateJwk("Ed25519")),
    ]) {
      await expectDidcommError(() => unpack(rewrite(base, { epk }), ctx()), C.Unsupported);
    }
  });
  test("crit and zip headers -> Unsupported", async () => {
    await expectDidcommError(() => unpack(rewrite(base, { crit: ["exp"] }), ctx()), C.Unsupported);
    await expectDidcommError(() => unpack(rewrite(base, { zip: "DEF" }), ctx()), C.Unsupported);
  });
  for (const alg of ["ES256K", "ES384", "RS256", "HS256", "none"]) {
    test(`JWS alg ${alg} -> Unsupported`, async () => {
      const jws = JSON.parse(await packSigned(msg(), alice.auth[0]!, aliceCtx)) as { signatures: Obj[] } & Obj;
      const sig = jws.signatures[0]!;
      sig.protected = b64u(new TextEncoder().encode(JSON.stringify({ ...header(sig), alg })));
      await expectDidcommError(() => unpack(JSON.stringify(jws), ctx()), C.Unsupported);
    });
  }
});

describe("malformed and oversized input", () => {
  const valid = cases[0]!.packed;
  const notJson = ["", " ", "{", "}", "null", "[]", "42", '"jwe"', "true", "{\"protected\":", "\u0000", "{} {}", "{'a':1}"];
  for (const text of notJson) {
    test(`non-object / non-JSON ${JSON.stringify(text)} -> Malformed`, async () => {
      await expectDidcommError(() => unpack(text, ctx()), C.Malformed);
    });
  }

  test("every truncation of a valid JWE -> Malformed", async () => {
    for (let n = 0; n < valid.length; n += 7) await expectDidcommError(() => unpack(valid.slice(0, n), ctx()), C.Malformed);
  });

  test("invalid UTF-8 bytes -> Malformed", async () => {
    await expectDidcommError(() => unpack(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), ctx()), C.Malformed);
  });

  test("JWE members of the wrong type or missing -> Malformed", async () => {
    const env = JSON.parse(valid) as Obj;
    const variants: Obj[] = [
      { ...env, recipients: [] },
      { ...env, recipients: [{}] },
      { ...env, recipients: [null] },
      { ...env, recipients: [{ header: { kid: 5 }, encrypted_key: "AA" }] },
      { ...env, iv: 5 },
      { ...env, tag: null },
      { ...env, tag: "***" },
      { ...env, ciphertext: "a" },
      { ...env, protected: "" },
      { ...env, protected: "bm90IGpzb24" }, // "not json"
      { ...env, protected: b64u(new TextEncoder().encode("[1,2]")) },
      withHeader(env, { ...header(env), epk: undefined }),
      withHeader(env, { ...header(env), apv: 7 }),
    ];
    for (const v of variants) await expectDidcommError(() => unpack(JSON.stringify(v), ctx()), C.Malformed);
  });

  test("duplicate recipient kids -> Malformed", async () => {
    const env = JSON.parse(valid) as Obj;
    const r = recipients(env)[0]!;
    await expectDidcommError(() => unpack(JSON.stringify({ ...env, recipients: [r, r] }), ctx()), C.Malformed);
  });

  test("epk with a bad coordinate length -> InvalidKey", async () => {
    const env = JSON.parse(valid) as Obj;
    const h = header(env);
    const epk = { ...(h.epk as Obj), x: b64u(new Uint8Array(31)) };
    await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, { ...h, epk })), ctx()), C.InvalidKey);
  });

  test("all-zero X25519 epk (low-order point) -> InvalidKey or DecryptFailed, never a crash", async () => {
    const env = JSON.parse(valid) as Obj;
    const h = header(env);
    const epk = { kty: "OKP", crv: "X25519", x: b64u(new Uint8Array(32)) };
    await expectDidcommError(() => unpack(JSON.stringify(withHeader(env, { ...h, epk })), ctx()), C.InvalidKey, C.DecryptFailed);
  });

  test("plaintext message violating the model -> InvalidMessage", async () => {
    for (const m of [{ type: "t:x", body: {} }, { id: "1", body: {} }, { id: "1", type: "t:x", body: [] }, { id: 1, type: "t:x", body: {} }]) {
      await expectDidcommError(() => unpack(JSON.stringify(m), ctx()), C.InvalidMessage);
    }
  });

  test("expired message with checkExpiry -> Expired (and accepted without it)", async () => {
    const m = { ...msg(), expires_time: 1_000 };
    await expectDidcommError(() => unpack(JSON.stringify(m), ctx(bob.keys, { now: () => 2_000_000 }), { checkExpiry: true }), C.Expired);
    expect((await unpack(JSON.stringify(m), ctx())).message.id).toBe(m.id);
  });

  test("oversized envelope -> TooLarge, decided before parsing", async () => {
    const small = ctx(bob.keys, { maxEnvelopeBytes: 256 });
    await expectDidcommError(() => unpack(valid, small), C.TooLarge);
    await expectDidcommError(() => unpack(new TextEncoder().encode(valid), small), C.TooLarge);
    // Multi-byte characters count as UTF-8 bytes, not UTF-16 units.
    await expectDidcommError(() => unpack("{" + "\u00e9".repeat(200) + "}", small), C.TooLarge);
    // Not even JSON, but too big: the size check wins.
    await expectDidcommError(() => unpack("x".repeat(2 * 1024 * 1024), ctx()), C.TooLarge);
  });

  test("unpackForward on a non-forward message -> InvalidMessage", async () => {
    const { packed } = await packEncrypted(msg(), bob.did, aliceCtx, { forward: false });
    await expectDidcommError(() => unpackForward(packed, ctx()), C.InvalidMessage);
  });

  test("anoncrypt nested inside authcrypt (wrong layer order) -> Malformed", async () => {
    const bobX = { kid: bob.agreement[0]!, jwk: bob.doc.verificationMethod[0]!.publicKeyJwk as never };
    const inner = encryptAnon(new TextEncoder().encode(JSON.stringify(msg())), [bobX]);
    const sender = alice.keys.find((k) => k.kid === alice.agreement[0])!;
    const outer = encryptAuth(new TextEncoder().encode(JSON.stringify(inner)), sender, [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(outer), ctx()), C.Malformed);
  });

  test("deeply nested anoncrypt layers are refused, not recursed into", async () => {
    const bobX = { kid: bob.agreement[0]!, jwk: bob.doc.verificationMethod[0]!.publicKeyJwk as never };
    let env: object = msg();
    for (let i = 0; i < 3; i++) env = encryptAnon(new TextEncoder().encode(JSON.stringify(env)), [bobX]);
    await expectDidcommError(() => unpack(JSON.stringify(env), ctx()), C.Malformed);
  });
});
