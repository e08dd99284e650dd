// Tests for pack/unpack: plaintext, signed, anoncrypt, authcrypt, nesting, routing, and every rejection path.
import { describe, expect, test } from "bun:test";
import type { ContentEnc } from "../../src/didcomm/crypto/content.ts";
import { createPeer2 } from "../../src/didcomm/did/peer2.ts";
import { createResolver } from "../../src/didcomm/did/resolver.ts";
import type { DidCommServiceEndpoint, DidResolver } from "../../src/didcomm/did/types.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { encryptAnon } from "../../src/didcomm/jwe/anoncrypt.ts";
import { encryptAuth } from "../../src/didcomm/jwe/authcrypt.ts";
import { signJws } from "../../src/didcomm/jws/sign.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart, type Curve, type KeyRef, type PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import { FORWARD_TYPE, buildForward, issueFromPrior, newMessage, type Message } from "../../src/didcomm/message/index.ts";
import {
  packEncrypted,
  packPlaintext,
  packSigned,
  unpack,
  unpackForward,
  type DidcommContext,
} from "../../src/didcomm/pack/index.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/memory.ts";

const TYPE = "https://example.org/protocols/test/1.0/ping";

interface Party {
  did: string;
  auth: KeyRef<PrivateJwk>[];
  agreement: KeyRef<PrivateJwk>[];
  ctx: DidcommContext;
}

/** A did:peer:2 party: authentication keys are #key-1.., agreement keys follow (createPeer2 order). */
function party(opts: { agreement?: Curve[]; auth?: Curve[]; services?: DidCommServiceEndpoint[]; resolver?: DidResolver } = {}): Party {
  const authJwks = (opts.auth ?? ["Ed25519"]).map(generateJwk);
  const agreeJwks = (opts.agreement ?? ["X25519"]).map(generateJwk);
  const did = createPeer2({
    authenticationKeys: authJwks.map(publicPart),
    agreementKeys: agreeJwks.map(publicPart),
    services: opts.services,
  });
  const auth = authJwks.map((jwk, i) => ({ kid: `${did}#key-${i + 1}`, jwk }));
  const agreement = agreeJwks.map((jwk, i) => ({ kid: `${did}#key-${authJwks.length + i + 1}`, jwk }));
  const resolver = opts.resolver ?? createResolver({ web: false });
  return { did, auth, agreement, ctx: { resolver, secrets: new MemorySecrets([...auth, ...agreement]) } };
}

function msg(from: Party | undefined, to: Party | undefined, extra: Partial<Message> = {}): Message {
  return newMessage({ type: TYPE, from: from?.did, to: to === undefined ? undefined : [to.did], body: { hello: "world" }, ...extra });
}

async function rejects(p: Promise<unknown>): Promise<DidcommError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DidcommError);
    return e as DidcommError;
  }
  throw new Error("expected a rejection");
}

function enc(bytes: string): Uint8Array {
  return new TextEncoder().encode(bytes);
}

const alice = party({ agreement: ["X25519", "P-256"], auth: ["Ed25519", "P-256"] });
const bob = party({ agreement: ["X25519", "P-256"] });
const carol = party();

describe("plaintext", () => {
  test("round trip with typ, no protection", async () => {
    const m = msg(alice, bob);
    const packed = packPlaintext(m);
    expect(JSON.parse(packed).typ).toBe("application/didcomm-plain+json");
    const { message, metadata } = await unpack(packed, bob.ctx);
    expect(message.body).toEqual({ hello: "world" });
    expect(metadata).toMatchObject({ encrypted: false, authenticated: false, nonRepudiation: false, anonymousSender: false });
    expect(metadata.sender).toEqual({ kind: "anonymous" });
  });

  test("packPlaintext validates", () => {
    expect(() => packPlaintext({ id: "1", type: TYPE } as unknown as Message)).toThrow(DidcommError);
  });
});

describe("signed", () => {
  for (const [i, alg] of [[0, "EdDSA"], [1, "ES256"]] as const) {
    test(`${alg} round trip`, async () => {
      const kid = alice.auth[i]!.kid;
      const packed = await packSigned(msg(alice, bob), kid, alice.ctx);
      const { message, metadata } = await unpack(packed, bob.ctx);
      expect(message.from).toBe(alice.did);
      expect(metadata).toMatchObject({ encrypted: false, authenticated: true, nonRepudiation: true, signFrom: kid, signAlg: alg });
      expect(metadata.sender).toEqual({ kind: "signed", did: alice.did, kid });
    });
  }

  test("signing with a DID picks its first authentication key", async () => {
    const packed = await packSigned(msg(alice, bob), alice.did, alice.ctx);
    expect((await unpack(packed, bob.ctx)).metadata.signFrom).toBe(alice.auth[0]!.kid);
  });

  test("pack rejects a signer other than from, a missing from, and an agreement kid", async () => {
    expect((await rejects(packSigned(msg(alice, bob), carol.did, carol.ctx))).code).toBe("sender_mismatch");
    expect((await rejects(packSigned(msg(undefined, bob), alice.did, alice.ctx))).code).toBe("invalid_message");
    expect((await rejects(packSigned(msg(alice, bob), alice.agreement[0]!.kid, alice.ctx))).code).toBe("key_not_found");
  });

  test("a tampered payload fails verification", async () => {
    const jws = JSON.parse(await packSigned(msg(alice, bob), alice.did, alice.ctx));
    const other = Buffer.from(JSON.stringify({ ...msg(alice, bob), body: { hello: "mallory" } })).toString("base64url");
    const err = await rejects(unpack(JSON.stringify({ ...jws, payload: other }), bob.ctx));
    expect(err.code).toBe("invalid_signature");
  });

  test("signatures from two DIDs are SenderMismatch; a kid outside authentication is UnknownKid", async () => {
    const two = signJws(enc(JSON.stringify(msg(alice, bob))), [alice.auth[0]!, carol.auth[0]!]);
    expect((await rejects(unpack(JSON.stringify(two), bob.ctx))).code).toBe("sender_mismatch");
    const agreementKid = { kid: alice.agreement[0]!.kid, jwk: alice.auth[0]!.jwk };
    const wrongRel = signJws(enc(JSON.stringify(msg(alice, bob))), [agreementKid]);
    expect((await rejects(unpack(JSON.stringify(wrongRel), bob.ctx))).code).toBe("unknown_kid");
  });

  test("signer DID different from `from` is SenderMismatch", async () => {
    const forged = signJws(enc(JSON.stringify(msg(carol, bob))), [alice.auth[0]!]);
    expect((await rejects(unpack(JSON.stringify(forged), bob.ctx))).code).toBe("sender_mismatch");
  });
});

describe("anoncrypt", () => {
  for (const e of ["XC20P", "A256GCM", "A256CBC-HS512"] as ContentEnc[]) {
    test(`${e} round trip to all keys of the first curve`, async () => {
      const m = msg(undefined, bob);
      const res = await packEncrypted(m, bob.did, alice.ctx, { enc: e });
      expect(res.toKids).toEqual([bob.agreement[0]!.kid]);
      expect(res.fromKid).toBeUndefined();
      expect(res.service).toBeUndefined();
      const { message, metadata } = await unpack(res.packed, bob.ctx);
      expect(message.id).toBe(m.id);
      expect(metadata).toMatchObject({
        encrypted: true,
        authenticated: false,
        anonymousSender: true,
        encAlgAnon: `ECDH-ES+A256KW+${e}`,
        encryptedToKids: res.toKids,
        decryptedWithKid: bob.agreement[0]!.kid,
      });
      expect(metadata.sender).toEqual({ kind: "anonymous" });
    });
  }

  test("a kid recipient selects that key only (P-256)", async () => {
    const kid = bob.agreement[1]!.kid;
    const res = await packEncrypted(msg(undefined, bob), kid, alice.ctx);
    expect(res.toKids).toEqual([kid]);
    expect((await unpack(res.packed, bob.ctx)).metadata.decryptedWithKid).toBe(kid);
  });

  test("multiple keys on one curve: each key alone can decrypt", async () => {
    const dave = party({ agreement: ["X25519", "X25519", "P-256"] });
    const res = await packEncrypted(msg(undefined, dave), dave.did, alice.ctx);
    expect(res.toKids).toEqual([dave.agreement[0]!.kid, dave.agreement[1]!.kid]);
    const secondOnly: DidcommContext = { ...dave.ctx, secrets: new MemorySecrets([dave.agreement[1]!]) };
    expect((await unpack(res.packed, secondOnly)).metadata.decryptedWithKid).toBe(dave.agreement[1]!.kid);
  });

  test("the anoncrypt path makes no resolver calls", async () => {
    const res = await packEncrypted(msg(undefined, bob), bob.did, alice.ctx);
    let calls = 0;
    const counting: DidResolver = { resolve: (did) => (calls++, bob.ctx.resolver.resolve(did)) };
    await unpack(res.packed, { ...bob.ctx, resolver: counting });
    expect(calls).toBe(0);
  });

  test("a stranger gets NoRecipient, tampering gets DecryptFailed", async () => {
    const res = await packEncrypted(msg(undefined, bob), bob.did, alice.ctx);
    expect((await rejects(unpack(res.packed, carol.ctx))).code).toBe("no_recipient");
    const jwe = JSON.parse(res.packed);
    const ct = Buffer.from(jwe.ciphertext, "base64url");
    ct[0]! ^= 1;
    jwe.ciphertext = ct.toString("base64url");
    expect((await rejects(unpack(JSON.stringify(jwe), bob.ctx))).code).toBe("decrypt_failed");
  });

  test("a recipient not listed in `to` is rejected; `to` must name the recipient when packing", async () => {
    const jwe = encryptAnon(enc(JSON.stringify(msg(undefined, carol))), [bob.agreement[0]!]);
    expect((await rejects(unpack(JSON.stringify(jwe), bob.ctx))).code).toBe("invalid_message");
    expect((await rejects(packEncrypted(msg(undefined, carol), bob.did, alice.ctx))).code).toBe("invalid_message");
  });

  test("anoncrypt nested in anoncrypt is malformed", async () => {
    const inner = encryptAnon(enc(packPlaintext(msg(undefined, bob))), [bob.agreement[0]!]);
    const outer = encryptAnon(enc(JSON.stringify(inner)), [bob.agreement[0]!]);
    expect((await rejects(unpack(JSON.stringify(outer), bob.ctx))).code).toBe("malformed");
  });
});

describe("authcrypt", () => {
  test("X25519: sender is authenticated and matches from", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.did });
    expect(res.fromKid).toBe(alice.agreement[0]!.kid);
    const { metadata } = await unpack(res.packed, bob.ctx);
    expect(metadata).toMatchObject({
      encrypted: true,
      authenticated: true,
      nonRepudiation: false,
      anonymousSender: false,
      encryptedFromKid: res.fromKid,
      encAlgAuth: "ECDH-1PU+A256KW+A256CBC-HS512",
    });
    expect(metadata.sender).toEqual({ kind: "authcrypt", did: alice.did, kid: res.fromKid! });
  });

  test("a sender kid picks the curve (P-256 both sides)", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.agreement[1]!.kid });
    expect(res.toKids).toEqual([bob.agreement[1]!.kid]);
    expect((await unpack(res.packed, bob.ctx)).metadata.encryptedFromKid).toBe(alice.agreement[1]!.kid);
  });

  test("no shared curve is KeyNotFound", async () => {
    const p256 = party({ agreement: ["P-256"] });
    expect((await rejects(packEncrypted(msg(carol, p256), p256.did, carol.ctx, { from: carol.did }))).code).toBe("key_not_found");
  });

  test("pack checks from, and enc", async () => {
    expect((await rejects(packEncrypted(msg(carol, bob), bob.did, alice.ctx, { from: alice.did }))).code).toBe("sender_mismatch");
    expect((await rejects(packEncrypted(msg(undefined, bob), bob.did, alice.ctx, { from: alice.did }))).code).toBe("invalid_message");
    expect((await rejects(packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.did, enc: "XC20P" }))).code).toBe("unsupported");
  });

  test("skid DID different from `from`, or no `from`, is SenderMismatch", async () => {
    const forged = encryptAuth(enc(JSON.stringify(msg(carol, bob))), alice.agreement[0]!, [bob.agreement[0]!]);
    expect((await rejects(unpack(JSON.stringify(forged), bob.ctx))).code).toBe("sender_mismatch");
    const noFrom = encryptAuth(enc(JSON.stringify(msg(undefined, bob))), alice.agreement[0]!, [bob.agreement[0]!]);
    expect((await rejects(unpack(JSON.stringify(noFrom), bob.ctx))).code).toBe("sender_mismatch");
  });

  test("a skid that is not a keyAgreement key of its DID is UnknownKid", async () => {
    const fake = { kid: `${alice.did}#key-99`, jwk: alice.agreement[0]!.jwk };
    const jwe = encryptAuth(enc(JSON.stringify(msg(alice, bob))), fake, [bob.agreement[0]!]);
    expect((await rejects(unpack(JSON.stringify(jwe), bob.ctx))).code).toBe("unknown_kid");
  });

  test("an unresolvable sender fails", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.did });
    const none: DidResolver = { resolve: () => Promise.reject(new DidcommError("did_not_resolved", "nope")) };
    expect((await rejects(unpack(res.packed, { ...bob.ctx, resolver: none }))).code).toBe("did_not_resolved");
  });
});

describe("nested", () => {
  test("signed then anoncrypted: sender reports signed", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { signBy: alice.auth[1]!.kid, enc: "A256GCM" });
    expect(res.signByKid).toBe(alice.auth[1]!.kid);
    const { metadata } = await unpack(res.packed, bob.ctx);
    expect(metadata).toMatchObject({ encrypted: true, authenticated: true, nonRepudiation: true, signAlg: "ES256", encAlgAnon: "ECDH-ES+A256KW+A256GCM" });
    expect(metadata.sender).toEqual({ kind: "signed", did: alice.did, kid: alice.auth[1]!.kid });
  });

  test("signed then authcrypted", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.did, signBy: alice.did });
    const { metadata } = await unpack(res.packed, bob.ctx);
    expect(metadata).toMatchObject({ authenticated: true, nonRepudiation: true, encryptedFromKid: res.fromKid, signFrom: res.signByKid });
    expect(metadata.sender.kind).toBe("signed");
  });

  test("protectSender: anoncrypt(authcrypt(...))", async () => {
    const res = await packEncrypted(msg(alice, bob), bob.did, alice.ctx, { from: alice.did, protectSender: true, enc: "A256GCM" });
    const outer = JSON.parse(Buffer.from(JSON.parse(res.packed).protected, "base64url").toString());
    expect(outer.alg).toBe("ECDH-ES+A256KW");
    expect(outer.skid).toBeUndefined();
    const { metadata } = await unpack(res.packed, bob.ctx);
    expect(metadata).toMatchObject({
      encrypted: true,
      authenticated: true,
      anonymousSender: true,
      encAlgAnon: "ECDH-ES+A256KW+A256GCM",
      encAlgAuth: "ECDH-1PU+A256KW+A256CBC-HS512",
      encryptedFromKid: res.fromKid,
    });
    expect(metadata.sender).toEqual({ kind: "authcrypt", did: alice.did, kid: res.fromKid! });
  });

  test("protectSender without from is rejected", async () => {
    expect((await rejects(packEncrypted(msg(alice, bob), bob.did, alice.ctx, { protectSender: true }))).code).toBe("invalid_message");
  });

  test("a JWS wrapping a JWE is malformed", async () => {
    const inner = encryptAnon(enc(packPlaintext(msg(alice, bob))), [bob.agreement[0]!]);
    const jws = signJws(enc(JSON.stringify(inner)), [alice.auth[0]!]);
    expect((await rejects(unpack(JSON.stringify(jws), bob.ctx))).code).toBe("malformed");
  });
});

describe("routing", () => {
  test("one routing key: mediator unwraps the forward, recipient opens the rest", async () => {
    const mediator = party();
    const dave = party({ services: [{ uri: "https://mediator.example/didcomm", routingKeys: [mediator.agreement[0]!.kid] }] });
    const m = msg(alice, dave);
    const res = await packEncrypted(m, dave.did, alice.ctx, { from: alice.did });
    expect(res.service).toEqual({ uri: "https://mediator.example/didcomm", routingKeys: [mediator.agreement[0]!.kid] });
    const fwd = await unpackForward(res.packed, mediator.ctx);
    expect(fwd.next).toBe(dave.did);
    expect(fwd.message.type).toBe(FORWARD_TYPE);
    expect(fwd.metadata.sender).toEqual({ kind: "anonymous" });
    const inner = await unpack(JSON.stringify(fwd.forwarded), dave.ctx);
    expect(inner.message.id).toBe(m.id);
    expect(inner.metadata.sender.kind).toBe("authcrypt");
  });

  test("two routing keys: outermost for the first, next names the inner key", async () => {
    const m1 = party();
    const m2 = party({ agreement: ["P-256"] });
    const dave = party({ services: [{ uri: "https://m1.example", routingKeys: [m1.agreement[0]!.kid, m2.did] }] });
    const res = await packEncrypted(msg(undefined, dave), dave.did, alice.ctx, { enc: "A256CBC-HS512" });
    const hop1 = await unpackForward(res.packed, m1.ctx);
    expect(hop1.next).toBe(m2.did);
    expect(hop1.metadata.encAlgAnon).toBe("ECDH-ES+A256KW+A256CBC-HS512"); // forwards reuse the anoncrypt enc
    const hop2 = await unpackForward(JSON.stringify(hop1.forwarded), m2.ctx);
    expect(hop2.next).toBe(dave.did);
    expect((await unpack(JSON.stringify(hop2.forwarded), dave.ctx)).message.to).toEqual([dave.did]);
  });

  test("a mediator DID as uri: its own service gives the endpoint, its DID the routing key", async () => {
    const mediator = party({ services: [{ uri: "wss://mediator.example/ws" }] });
    const dave = party({ services: [{ uri: mediator.did }] });
    const res = await packEncrypted(msg(undefined, dave), dave.did, alice.ctx);
    expect(res.service).toEqual({ uri: "wss://mediator.example/ws", routingKeys: [mediator.did] });
    const fwd = await unpackForward(res.packed, mediator.ctx);
    expect(fwd.next).toBe(dave.did);
    let calls = 0; // the mediator's forward fast path needs no DID resolution
    const counting: DidResolver = { resolve: (did) => (calls++, mediator.ctx.resolver.resolve(did)) };
    await unpackForward(res.packed, { ...mediator.ctx, resolver: counting });
    expect(calls).toBe(0);
  });

  test("forward: false skips wrapping; a plain endpoint has no routing keys", async () => {
    const mediator = party();
    const dave = party({ services: [{ uri: "https://m.example", routingKeys: [mediator.agreement[0]!.kid] }] });
    const res = await packEncrypted(msg(undefined, dave), dave.did, alice.ctx, { forward: false });
    expect(res.service).toBeUndefined();
    expect((await unpack(res.packed, dave.ctx)).message.type).toBe(TYPE);
    const direct = party({ services: [{ uri: "https://direct.example" }] });
    const res2 = await packEncrypted(msg(undefined, direct), direct.did, alice.ctx);
    expect(res2.service).toEqual({ uri: "https://direct.example", routingKeys: [] });
    expect((await unpack(res2.packed, direct.ctx)).message.type).toBe(TYPE);
  });

  test("unpackForward rejects a non-forward message, and a forward of something else than a JWE", async () => {
    const res = await packEncrypted(msg(undefined, bob), bob.did, alice.ctx);
    expect((await rejects(unpackForward(res.packed, bob.ctx))).code).toBe("invalid_message");
    const notJwe = buildForward(carol.did, { hello: "world" });
    const wrapped = encryptAnon(enc(JSON.stringify(notJwe)), [bob.agreement[0]!]);
    const err = await rejects(unpackForward(JSON.stringify(wrapped), bob.ctx));
    expect(err.code).toBe("invalid_message");
    expect(err.message).toMatch(/not a JWE/);
  });
});

describe("envelope input", () => {
  test("oversized input is TooLarge before parsing", async () => {
    const res = await packEncrypted(msg(undefined, bob), bob.did, alice.ctx);
    const small = { ...bob.ctx, maxEnvelopeBytes: res.packed.length - 1 };
    expect((await rejects(unpack(res.packed, small))).code).toBe("too_large");
    expect((await rejects(unpack(enc(res.packed), small))).code).toBe("too_large");
    expect((await unpack(res.packed, { ...bob.ctx, maxEnvelopeBytes: res.packed.length })).message.type).toBe(TYPE);
    // Multi-byte characters count as bytes: 400 "é" are 800 bytes.
    expect((await rejects(unpack(`"${"é".repeat(400)}"`, { ...bob.ctx, maxEnvelopeBytes: 500 }))).code).toBe("too_large");
    expect((await rejects(unpack("x".repeat(2 * 1024 * 1024), bob.ctx))).code).toBe("too_large");
  });

  test("non-JSON, non-object and truncated input is Malformed", async () => {
    const res = await packEncrypted(msg(undefined, bob), bob.did, alice.ctx);
    for (const bad of ["not json", "[]", "42", res.packed.slice(0, res.packed.length - 10), res.packed.slice(0, 40)]) {
      expect((await rejects(unpack(bad, bob.ctx))).code).toBe("malformed");
    }
    expect((await rejects(unpack(new Uint8Array([0xff, 0xfe]), bob.ctx))).code).toBe("malformed");
  });

  test("a JWE with a field cut short is rejected, never a TypeError", async () => {
    const jwe = JSON.parse((await packEncrypted(msg(undefined, bob), bob.did, alice.ctx)).packed);
    for (const field of ["iv", "tag", "protected", "ciphertext"]) {
      const cut = { ...jwe, [field]: jwe[field].slice(0, -4) };
      const err = await rejects(unpack(JSON.stringify(cut), bob.ctx));
      expect(["malformed", "decrypt_failed"]).toContain(err.code);
    }
  });

  test("expired messages are rejected only on request", async () => {
    const m = msg(undefined, bob, { expires_time: 1000 });
    const res = await packEncrypted(m, bob.did, alice.ctx);
    expect((await unpack(res.packed, bob.ctx)).message.expires_time).toBe(1000);
    expect((await rejects(unpack(res.packed, { ...bob.ctx, now: () => 1_000_001 }, { checkExpiry: true }))).code).toBe("expired");
    expect((await unpack(res.packed, { ...bob.ctx, now: () => 999_999 }, { checkExpiry: true })).message.id).toBe(m.id);
  });

  test("message bounds pass through to the message model", async () => {
    const packed = packPlaintext(msg(undefined, bob, { attachments: [{ data: { json: {} } }, { data: { json: {} } }] }));
    expect((await rejects(unpack(packed, bob.ctx, { message: { maxAttachments: 1 } }))).code).toBe("invalid_message");
  });
});

describe("from_prior", () => {
  test("a valid rotation JWT is verified and reported", async () => {
    const prior = party({ auth: ["Ed25519"] });
    const jwt = issueFromPrior({ iss: prior.did, sub: alice.did, iat: 1 }, prior.auth[0]!);
    const res = await packEncrypted(msg(alice, bob, { from_prior: jwt }), bob.did, alice.ctx, { from: alice.did });
    const { metadata } = await unpack(res.packed, bob.ctx);
    expect(metadata.fromPrior).toMatchObject({ iss: prior.did, sub: alice.did });
    expect(metadata.fromPriorIssuerKid).toBe(prior.auth[0]!.kid);
  });

  test("ES256 from_prior, and a forged signature or wrong sub is rejected", async () => {
    const prior = party({ auth: ["P-256"] });
    const jwt = issueFromPrior({ iss: prior.did, sub: alice.did }, prior.auth[0]!);
    expect((await unpack(packPlaintext(msg(alice, bob, { from_prior: jwt })), bob.ctx)).metadata.fromPriorIssuerKid).toBe(prior.auth[0]!.kid);
    const [h, p] = jwt.split(".");
    const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString("base64url")}`;
    expect((await rejects(unpack(packPlaintext(msg(alice, bob, { from_prior: forged })), bob.ctx))).code).toBe("invalid_signature");
    expect((await rejects(unpack(packPlaintext(msg(carol, bob, { from_prior: jwt })), bob.ctx))).code).toBe("sender_mismatch");
    // A key that is not the prior DID's authentication key cannot issue one.
    expect(() => issueFromPrior({ iss: prior.did, sub: alice.did }, alice.auth[0]!)).toThrow(DidcommError);
  });
});
