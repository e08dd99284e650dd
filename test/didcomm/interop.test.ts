// Interop: Haven's pack/unpack against didcomm-node (SICPA didcomm-rust WASM), both directions, all shared algorithms.
import { describe, expect, test } from "bun:test";
import type { ContentEnc } from "../../src/didcomm/crypto/content.ts";
import { createPeer2 } from "../../src/didcomm/did/peer2.ts";
import { createResolver } from "../../src/didcomm/did/resolver.ts";
import type { DidResolver } from "../../src/didcomm/did/types.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart, type KeyRef, type PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, packPlaintext, packSigned, unpack, unpackForward } from "../../src/didcomm/pack/index.ts";
import type { DidcommContext } from "../../src/didcomm/pack/types.ts";
import {
  NODE_ANON_ALG,
  nodeEnv,
  nodePackEncrypted,
  nodePackPlaintext,
  nodePackSigned,
  nodeParseForward,
  nodeUnpack,
  nodeWrapInForward,
  toNodeDidDoc,
  type NodeEnv,
} from "../support/didcomm-node.ts";
import { DocResolver, KeySecrets, makeParty, type Party, type PartySpec } from "../support/world.ts";

const ENCS: ContentEnc[] = ["A256CBC-HS512", "A256GCM", "XC20P"];
const CURVES = ["X25519", "P-256"] as const;
const NODE_AUTH_ALG = "A256cbcHs512Ecdh1puA256kw";

let counter = 0;
/** A message that exercises the model: unicode, nesting, custom header, both attachment encodings. */
function sampleMessage(from: string | undefined, to: string): Message {
  const msg: Message = {
    id: `interop-${++counter}`,
    type: "https://didcomm.org/basicmessage/2.0/message",
    to: [to],
    thid: "thread-1",
    created_time: 1_700_000_000,
    expires_time: 4_102_444_800,
    lang: "en",
    body: { content: "héllo ✓ 🌍 \u0000 \"quoted\"", n: 42, nested: { a: [1, 2.5, { b: null }], t: true } },
    attachments: [
      { id: "a1", media_type: "application/json", data: { json: { k: "v", list: [1, 2] } } },
      { id: "a2", media_type: "text/plain", data: { base64: "SGVsbG8gd29ybGQ=" } },
    ],
  };
  if (from !== undefined) msg.from = from;
  return msg;
}

/** Compare messages without `typ` (an envelope media-type hint each library adds on its own). */
function plain(m: object): Record<string, unknown> {
  const { typ: _typ, ...rest } = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
  return rest;
}

interface World {
  resolver: DidResolver;
  havenCtx(keys: KeyRef<PrivateJwk>[]): DidcommContext;
  node(keys: KeyRef<PrivateJwk>[]): NodeEnv;
}
function world(...parties: Party[]): World {
  const resolver = new DocResolver(parties.map((p) => p.doc));
  return {
    resolver,
    havenCtx: (keys) => ({ resolver, secrets: new KeySecrets(keys) }),
    node: (keys) => nodeEnv(resolver, new KeySecrets(keys)),
  };
}

function agreementSpec(curve: (typeof CURVES)[number], count: number): PartySpec {
  return curve === "X25519" ? { x25519: count, p256: 0 } : { x25519: 0, p256: count };
}

describe("didcomm-node harness", () => {
  test("didcomm-node packs and unpacks to itself under bun (authcrypt + signed, X25519)", async () => {
    const alice = makeParty("alice");
    const bob = makeParty("bob", { p256: 1 });
    const w = world(alice, bob);
    const msg = { id: "m1", type: "https://example.org/ping/1.0/ping", from: alice.did, to: [bob.did], body: { n: 1 } };
    const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), { from: alice.did, signBy: alice.did });
    expect(meta.from_kid).toBe(alice.agreement[0]!);
    expect(meta.to_kids).toEqual([bob.agreement[0]!]); // X25519 sender -> only Bob's X25519 key is compatible
    const out = await nodeUnpack(packed, w.node(bob.keys));
    expect(out.message.body).toEqual({ n: 1 });
    expect(out.metadata.authenticated).toBe(true);
    expect(out.metadata.non_repudiation).toBe(true);
    expect(out.metadata.sign_from).toBe(alice.auth[0]!);
  });

  test("didcomm-node rejects a message for which it holds no key", async () => {
    const alice = makeParty("alice");
    const bob = makeParty("bob");
    const w = world(alice, bob);
    const { packed } = await nodePackEncrypted({ id: "m2", type: "https://example.org/t", body: {} }, bob.did, w.node([]));
    await expect(nodeUnpack(packed, w.node(alice.keys))).rejects.toThrow();
  });

  test("toNodeDidDoc keeps DIDCommMessaging services only, in the v2 object form, with absolute kids", () => {
    const m = makeParty("mediator");
    const b = makeParty("bob", { service: { uri: m.did, routingKeys: [m.agreement[0]!] } });
    b.doc.service.push({ id: "#other", type: "LinkedDomains", serviceEndpoint: "https://x.example" });
    const nd = toNodeDidDoc(b.doc);
    expect(nd.service).toEqual([
      { id: `${b.did}#didcomm`, type: "DIDCommMessaging", serviceEndpoint: { uri: m.did, accept: ["didcomm/v2"], routingKeys: [m.agreement[0]!] } },
    ]);
    expect(nd.keyAgreement).toEqual(b.agreement);
  });
});

describe("plaintext", () => {
  const alice = makeParty("alice");
  const bob = makeParty("bob");
  const w = world(alice, bob);

  test("Haven -> didcomm-node", async () => {
    const msg = sampleMessage(alice.did, bob.did);
    const out = await nodeUnpack(packPlaintext(msg), w.node([]));
    expect(plain(out.message)).toEqual(plain(msg));
    expect(out.metadata.encrypted).toBe(false);
    expect(out.metadata.authenticated).toBe(false);
  });

  test("didcomm-node -> Haven", async () => {
    const msg = sampleMessage(alice.did, bob.did);
    const { message, metadata } = await unpack(await nodePackPlaintext(msg, w.node([])), w.havenCtx([]));
    expect(plain(message)).toEqual(plain(msg));
    expect(metadata.encrypted).toBe(false);
    expect(metadata.sender).toEqual({ kind: "anonymous" });
  });
});

describe("signed", () => {
  const alice = makeParty("alice", { ed25519: 1, p256Sign: 1 });
  const bob = makeParty("bob");
  const w = world(alice, bob);
  const cases = [
    { alg: "EdDSA", kid: alice.auth[0]! },
    { alg: "ES256", kid: alice.auth[1]! },
  ];

  for (const { alg, kid } of cases) {
    test(`${alg}: Haven -> didcomm-node`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const out = await nodeUnpack(await packSigned(msg, kid, w.havenCtx(alice.keys)), w.node([]));
      expect(plain(out.message)).toEqual(plain(msg));
      expect(out.metadata.non_repudiation).toBe(true);
      expect(out.metadata.authenticated).toBe(true);
      expect(out.metadata.sign_from).toBe(kid);
      expect(out.metadata.sign_alg).toBe(alg);
    });

    test(`${alg}: didcomm-node -> Haven`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const { packed, signByKid } = await nodePackSigned(msg, kid, w.node(alice.keys));
      expect(signByKid).toBe(kid);
      const { message, metadata } = await unpack(packed, w.havenCtx([]));
      expect(plain(message)).toEqual(plain(msg));
      expect(metadata.nonRepudiation).toBe(true);
      expect(metadata.authenticated).toBe(true);
      expect(metadata.signFrom).toBe(kid);
      expect(metadata.signAlg).toBe(alg);
      expect(metadata.sender).toEqual({ kind: "signed", did: alice.did, kid });
    });
  }
});

describe("anoncrypt", () => {
  for (const curve of CURVES) {
    const alice = makeParty("alice");
    const bob = makeParty("bob", agreementSpec(curve, 2));
    const w = world(alice, bob);
    for (const enc of ENCS) {
      test(`${curve} x ${enc}: Haven -> didcomm-node`, async () => {
        const msg = sampleMessage(alice.did, bob.did);
        const res = await packEncrypted(msg, bob.did, w.havenCtx([]), { enc, forward: false });
        expect(res.toKids).toEqual(bob.agreement);
        const out = await nodeUnpack(res.packed, w.node(bob.keys));
        expect(plain(out.message)).toEqual(plain(msg));
        expect(out.metadata.encrypted).toBe(true);
        expect(out.metadata.authenticated).toBe(false);
        expect(out.metadata.anonymous_sender).toBe(true);
        expect(out.metadata.enc_alg_anon).toBe(NODE_ANON_ALG[enc]);
        expect(out.metadata.encrypted_to_kids).toEqual(bob.agreement);
      });

      test(`${curve} x ${enc}: didcomm-node -> Haven`, async () => {
        const msg = sampleMessage(alice.did, bob.did);
        const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node([]), { encAlgAnon: NODE_ANON_ALG[enc] });
        expect(meta.to_kids).toEqual(bob.agreement);
        const { message, metadata } = await unpack(packed, w.havenCtx(bob.keys));
        expect(plain(message)).toEqual(plain(msg));
        expect(metadata.encrypted).toBe(true);
        expect(metadata.authenticated).toBe(false);
        expect(metadata.anonymousSender).toBe(true);
        expect(metadata.encAlgAnon).toBe(`ECDH-ES+A256KW+${enc}`);
        expect(metadata.encryptedToKids).toEqual(meta.to_kids);
        expect(metadata.sender).toEqual({ kind: "anonymous" });
      });
    }
  }
});

describe("authcrypt (ECDH-1PU+A256KW, A256CBC-HS512)", () => {
  for (const curve of CURVES) {
    // Alice holds both curves: each library must negotiate the curve Bob supports.
    const alice = makeParty("alice", { x25519: 1, p256: 1 });
    const bob = makeParty("bob", agreementSpec(curve, 2));
    const w = world(alice, bob);
    const aliceKid = alice.agreement[curve === "X25519" ? 0 : 1]!;

    test(`${curve}: Haven -> didcomm-node`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), { from: alice.did, forward: false });
      expect(res.fromKid).toBe(aliceKid);
      const out = await nodeUnpack(res.packed, w.node(bob.keys));
      expect(plain(out.message)).toEqual(plain(msg));
      expect(out.metadata.authenticated).toBe(true);
      expect(out.metadata.anonymous_sender).toBe(false);
      expect(out.metadata.non_repudiation).toBe(false);
      expect(out.metadata.encrypted_from_kid).toBe(aliceKid);
      expect(out.metadata.encrypted_to_kids).toEqual(res.toKids);
      expect(out.metadata.enc_alg_auth).toBe(NODE_AUTH_ALG);
    });

    test(`${curve}: didcomm-node -> Haven`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), { from: alice.did });
      expect(meta.from_kid).toBe(aliceKid);
      const { message, metadata } = await unpack(packed, w.havenCtx(bob.keys));
      expect(plain(message)).toEqual(plain(msg));
      expect(metadata.authenticated).toBe(true);
      expect(metadata.anonymousSender).toBe(false);
      expect(metadata.nonRepudiation).toBe(false);
      expect(metadata.encryptedFromKid).toBe(aliceKid);
      expect(metadata.encryptedToKids).toEqual(meta.to_kids);
      expect(metadata.encAlgAuth).toBe("ECDH-1PU+A256KW+A256CBC-HS512");
      expect(metadata.sender).toEqual({ kind: "authcrypt", did: alice.did, kid: aliceKid });
    });

    test(`${curve}: protect-sender (authcrypt inside anoncrypt), Haven -> didcomm-node`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), { from: alice.did, protectSender: true, forward: false });
      // The outer layer must not reveal the sender.
      const outer = JSON.parse(Buffer.from(JSON.parse(res.packed).protected, "base64url").toString()) as Record<string, unknown>;
      expect(outer.skid).toBeUndefined();
      expect(outer.alg).toBe("ECDH-ES+A256KW");
      const out = await nodeUnpack(res.packed, w.node(bob.keys));
      expect(plain(out.message)).toEqual(plain(msg));
      expect(out.metadata.authenticated).toBe(true);
      expect(out.metadata.anonymous_sender).toBe(true);
      expect(out.metadata.encrypted_from_kid).toBe(aliceKid);
    });

    test(`${curve}: protect-sender, didcomm-node -> Haven`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const { packed } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), { from: alice.did, protectSender: true });
      const { message, metadata } = await unpack(packed, w.havenCtx(bob.keys));
      expect(plain(message)).toEqual(plain(msg));
      expect(metadata.authenticated).toBe(true);
      expect(metadata.anonymousSender).toBe(true);
      expect(metadata.encryptedFromKid).toBe(aliceKid);
      expect(metadata.sender).toEqual({ kind: "authcrypt", did: alice.did, kid: aliceKid });
    });
  }
});

describe("signed then encrypted", () => {
  const alice = makeParty("alice", { ed25519: 1, p256Sign: 1 });
  const bob = makeParty("bob", { x25519: 1, p256: 1 });
  const w = world(alice, bob);
  for (const signKid of alice.auth) {
    for (const auth of [true, false]) {
      const label = `${signKid.includes("p256") ? "ES256" : "EdDSA"} + ${auth ? "authcrypt" : "anoncrypt"}`;
      test(`${label}: Haven -> didcomm-node`, async () => {
        const msg = sampleMessage(alice.did, bob.did);
        const opts = { signBy: signKid, forward: false, ...(auth ? { from: alice.did } : {}) };
        const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), opts);
        expect(res.signByKid).toBe(signKid);
        const out = await nodeUnpack(res.packed, w.node(bob.keys));
        expect(plain(out.message)).toEqual(plain(msg));
        expect(out.metadata.non_repudiation).toBe(true);
        expect(out.metadata.sign_from).toBe(signKid);
        expect(out.metadata.authenticated).toBe(true);
        expect(out.metadata.encrypted_from_kid ?? undefined).toBe(auth ? res.fromKid : undefined);
      });

      test(`${label}: didcomm-node -> Haven`, async () => {
        const msg = sampleMessage(alice.did, bob.did);
        const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), {
          signBy: signKid,
          ...(auth ? { from: alice.did } : {}),
        });
        const { message, metadata } = await unpack(packed, w.havenCtx(bob.keys));
        expect(plain(message)).toEqual(plain(msg));
        expect(metadata.nonRepudiation).toBe(true);
        expect(metadata.signFrom).toBe(signKid);
        expect(metadata.encryptedFromKid).toBe(auth ? meta.from_kid : undefined);
        expect(metadata.sender).toEqual({ kind: "signed", did: alice.did, kid: signKid });
      });
    }
  }
});

describe("several recipient keys (the unpacker holds only the last one)", () => {
  const alice = makeParty("alice");
  const bob = makeParty("bob", { x25519: 3 });
  const w = world(alice, bob);
  const lastOnly = bob.keys.filter((k) => k.kid === bob.agreement[2]);

  for (const auth of [false, true]) {
    const opts = auth ? { from: alice.did } : {};
    test(`${auth ? "authcrypt" : "anoncrypt"}: Haven -> didcomm-node`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), { ...opts, forward: false });
      expect(res.toKids).toEqual(bob.agreement);
      const out = await nodeUnpack(res.packed, w.node(lastOnly));
      expect(plain(out.message)).toEqual(plain(msg));
      expect(out.metadata.encrypted_to_kids).toEqual(bob.agreement);
    });

    test(`${auth ? "authcrypt" : "anoncrypt"}: didcomm-node -> Haven`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), opts);
      expect(meta.to_kids).toEqual(bob.agreement);
      const { message, metadata } = await unpack(packed, w.havenCtx(lastOnly));
      expect(plain(message)).toEqual(plain(msg));
      expect(metadata.encryptedToKids).toEqual(bob.agreement);
      expect(metadata.authenticated).toBe(auth);
    });
  }

  test("to a single kid: both encrypt for exactly that key", async () => {
    const kid = bob.agreement[1]!;
    const msg = sampleMessage(alice.did, bob.did);
    const res = await packEncrypted(msg, kid, w.havenCtx([]), { forward: false });
    expect(res.toKids).toEqual([kid]);
    expect(plain((await nodeUnpack(res.packed, w.node(bob.keys))).message)).toEqual(plain(msg));
    const { packed, meta } = await nodePackEncrypted(msg, kid, w.node([]));
    expect(meta.to_kids).toEqual([kid]);
    expect(plain((await unpack(packed, w.havenCtx(bob.keys))).message)).toEqual(plain(msg));
  });
});

describe("forward wrapping through mediators", () => {
  const M1_URI = "https://mediator1.example/didcomm";
  const m1 = makeParty("mediator1", { service: { uri: M1_URI } });
  const m2 = makeParty("mediator2", { service: { uri: "https://mediator2.example/didcomm" } });
  const alice = makeParty("alice");
  // Bob: one explicit routing key (mediator1's key), endpoint URL of mediator1.
  const bob = makeParty("bob", { service: { uri: M1_URI, routingKeys: [m1.agreement[0]!] } });
  // Carol: two mediators; mediator1 is the first hop, then mediator2.
  const carol = makeParty("carol", { service: { uri: M1_URI, routingKeys: [m1.agreement[0]!, m2.agreement[0]!] } });
  // Dave: the mediator's DID as uri, no routing keys (the mediator's keyAgreement keys are the routing key).
  const dave = makeParty("dave", { service: { uri: m1.did } });
  const w = world(m1, m2, alice, bob, carol, dave);

  test("didcomm-node wraps (1 routing key) -> Haven unpackForward -> Haven unpack", async () => {
    const msg = sampleMessage(alice.did, bob.did);
    const { packed, meta } = await nodePackEncrypted(msg, bob.did, w.node(alice.keys), { from: alice.did, forward: true });
    expect(meta.messaging_service?.service_endpoint).toBe(M1_URI);
    const fwd = await unpackForward(packed, w.havenCtx(m1.keys));
    expect(fwd.next).toBe(bob.did);
    expect(fwd.metadata.anonymousSender).toBe(true);
    expect(fwd.metadata.authenticated).toBe(false);
    expect(fwd.metadata.encryptedToKids).toEqual([m1.agreement[0]!]);
    // The mediator cannot open the inner message...
    await expect(unpack(JSON.stringify(fwd.forwarded), w.havenCtx(m1.keys))).rejects.toThrow();
    // ...Bob can, and sees Alice's authcrypt.
    const { message, metadata } = await unpack(JSON.stringify(fwd.forwarded), w.havenCtx(bob.keys));
    expect(plain(message)).toEqual(plain(msg));
    expect(metadata.sender).toEqual({ kind: "authcrypt", did: alice.did, kid: alice.agreement[0]! });
  });

  test("Haven wraps (1 routing key) -> didcomm-node parses the forward -> didcomm-node unpacks", async () => {
    const msg = sampleMessage(alice.did, bob.did);
    const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), { from: alice.did });
    expect(res.service).toEqual({ uri: M1_URI, routingKeys: [m1.agreement[0]!] });
    const fwd = await nodeParseForward(res.packed, w.node(m1.keys));
    expect(fwd?.next).toBe(bob.did);
    const out = await nodeUnpack(JSON.stringify(fwd!.forwarded), w.node(bob.keys));
    expect(plain(out.message)).toEqual(plain(msg));
    expect(out.metadata.encrypted_from_kid).toBe(alice.agreement[0]!);
  });

  test("didcomm-node wraps (2 routing keys) -> Haven unwraps hop by hop", async () => {
    const msg = sampleMessage(alice.did, carol.did);
    const { packed } = await nodePackEncrypted(msg, carol.did, w.node(alice.keys), { forward: true });
    const hop1 = await unpackForward(packed, w.havenCtx(m1.keys));
    expect(hop1.next).toBe(m2.agreement[0]!);
    const hop2 = await unpackForward(JSON.stringify(hop1.forwarded), w.havenCtx(m2.keys));
    expect(hop2.next).toBe(carol.did);
    const { message } = await unpack(JSON.stringify(hop2.forwarded), w.havenCtx(carol.keys));
    expect(plain(message)).toEqual(plain(msg));
  });

  test("Haven wraps (2 routing keys, A256GCM) -> didcomm-node unwraps hop by hop", async () => {
    const msg = sampleMessage(alice.did, carol.did);
    const res = await packEncrypted(msg, carol.did, w.havenCtx([]), { enc: "A256GCM" });
    expect(res.service?.routingKeys).toEqual([m1.agreement[0]!, m2.agreement[0]!]);
    const hop1 = await nodeParseForward(res.packed, w.node(m1.keys));
    expect(hop1?.next).toBe(m2.agreement[0]!);
    const hop2 = await nodeParseForward(JSON.stringify(hop1!.forwarded), w.node(m2.keys));
    expect(hop2?.next).toBe(carol.did);
    const out = await nodeUnpack(JSON.stringify(hop2!.forwarded), w.node(carol.keys));
    expect(plain(out.message)).toEqual(plain(msg));
    expect(out.metadata.enc_alg_anon).toBe(NODE_ANON_ALG.A256GCM);
  });

  test("mediator DID as service uri: both wrap one forward to the mediator's keys, next = recipient", async () => {
    const msg = sampleMessage(alice.did, dave.did);
    const { packed, meta } = await nodePackEncrypted(msg, dave.did, w.node(alice.keys), { from: alice.did, forward: true });
    expect(meta.messaging_service?.service_endpoint).toBe(M1_URI);
    const fwd = await unpackForward(packed, w.havenCtx(m1.keys));
    expect(fwd.next).toBe(dave.did);
    expect(plain((await unpack(JSON.stringify(fwd.forwarded), w.havenCtx(dave.keys))).message)).toEqual(plain(msg));

    const res = await packEncrypted(msg, dave.did, w.havenCtx(alice.keys), { from: alice.did });
    expect(res.service).toEqual({ uri: M1_URI, routingKeys: [m1.did] });
    const nfwd = await nodeParseForward(res.packed, w.node(m1.keys));
    expect(nfwd?.next).toBe(dave.did);
    expect(plain((await nodeUnpack(JSON.stringify(nfwd!.forwarded), w.node(dave.keys))).message)).toEqual(plain(msg));
  });

  test("mediator DID as uri plus routingKeys: didcomm-node adds an extra hop whose next is the mediator's own key", async () => {
    // didcomm-rust routes [mediator DID, ...routingKeys], Haven routes [...routingKeys]. Both are valid; a Haven
    // mediator receiving didcomm-rust's envelope sees next = its own key and must unwrap again (documented here).
    const erin = makeParty("erin", { service: { uri: m1.did, routingKeys: [m1.agreement[0]!] } });
    const w2 = world(m1, m2, alice, erin);
    const msg = sampleMessage(alice.did, erin.did);
    const { packed } = await nodePackEncrypted(msg, erin.did, w2.node(alice.keys), { forward: true });
    const outer = await unpackForward(packed, w2.havenCtx(m1.keys));
    expect(outer.next).toBe(m1.agreement[0]!);
    const inner = await unpackForward(JSON.stringify(outer.forwarded), w2.havenCtx(m1.keys));
    expect(inner.next).toBe(erin.did);
    expect(plain((await unpack(JSON.stringify(inner.forwarded), w2.havenCtx(erin.keys))).message)).toEqual(plain(msg));
  });

  test("didcomm-node wrap_in_forward around a Haven envelope (every anon alg) -> Haven unpackForward", async () => {
    const msg = sampleMessage(alice.did, bob.did);
    const res = await packEncrypted(msg, bob.did, w.havenCtx(alice.keys), { from: alice.did, forward: false });
    for (const alg of Object.values(NODE_ANON_ALG)) {
      const wrapped = await nodeWrapInForward(res.packed, bob.did, [m1.agreement[0]!], w.node([]), alg);
      const fwd = await unpackForward(wrapped, w.havenCtx(m1.keys));
      expect(fwd.next).toBe(bob.did);
      expect(fwd.forwarded).toEqual(JSON.parse(res.packed));
      const { message } = await unpack(JSON.stringify(fwd.forwarded), w.havenCtx(bob.keys));
      expect(plain(message)).toEqual(plain(msg));
    }
  });
});

describe("did:peer:2 documents from Haven's resolver", () => {
  /** A did:peer:2 party: kids are `did#key-N` in createPeer2's order (authentication first, then agreement). */
  function peerParty(agreementCrv: "X25519" | "P-256", signCrv: "Ed25519" | "P-256") {
    const sign = generateJwk(signCrv);
    const agree = generateJwk(agreementCrv);
    const did = createPeer2({ authenticationKeys: [publicPart(sign)], agreementKeys: [publicPart(agree)] });
    const keys: KeyRef<PrivateJwk>[] = [
      { kid: `${did}#key-1`, jwk: sign },
      { kid: `${did}#key-2`, jwk: agree },
    ];
    return { did, keys, signKid: keys[0]!.kid, agreeKid: keys[1]!.kid };
  }
  const resolver = createResolver({ cache: false, web: false });
  const haven = (keys: KeyRef<PrivateJwk>[]): DidcommContext => ({ resolver, secrets: new KeySecrets(keys) });
  const node = (keys: KeyRef<PrivateJwk>[]) => nodeEnv(resolver, new KeySecrets(keys));

  test("forward through a did:peer:2 mediator (recipient service uri = mediator DID), both directions", async () => {
    const mAgree = generateJwk("X25519");
    const mediatorDid = createPeer2({
      authenticationKeys: [publicPart(generateJwk("Ed25519"))],
      agreementKeys: [publicPart(mAgree)],
      services: [{ uri: "https://mediator.example/didcomm", accept: ["didcomm/v2"] }],
    });
    const mediatorKeys: KeyRef<PrivateJwk>[] = [{ kid: `${mediatorDid}#key-2`, jwk: mAgree }];
    const bAgree = generateJwk("X25519");
    const bobDid = createPeer2({
      authenticationKeys: [publicPart(generateJwk("Ed25519"))],
      agreementKeys: [publicPart(bAgree)],
      services: [{ uri: mediatorDid, accept: ["didcomm/v2"] }],
    });
    const bobKeys: KeyRef<PrivateJwk>[] = [{ kid: `${bobDid}#key-2`, jwk: bAgree }];
    const alice = peerParty("X25519", "Ed25519");
    const msg = sampleMessage(alice.did, bobDid);

    const { packed, meta } = await nodePackEncrypted(msg, bobDid, node(alice.keys), { from: alice.did, forward: true });
    expect(meta.messaging_service?.service_endpoint).toBe("https://mediator.example/didcomm");
    const fwd = await unpackForward(packed, haven(mediatorKeys));
    expect(fwd.next).toBe(bobDid);
    expect(plain((await unpack(JSON.stringify(fwd.forwarded), haven(bobKeys))).message)).toEqual(plain(msg));

    const res = await packEncrypted(msg, bobDid, haven(alice.keys), { from: alice.did });
    expect(res.service).toEqual({ uri: "https://mediator.example/didcomm", routingKeys: [mediatorDid] });
    const nfwd = await nodeParseForward(res.packed, node(mediatorKeys));
    expect(nfwd?.next).toBe(bobDid);
    expect(plain((await nodeUnpack(JSON.stringify(nfwd!.forwarded), node(bobKeys))).message)).toEqual(plain(msg));
  });

  for (const [agreementCrv, signCrv] of [["X25519", "Ed25519"], ["P-256", "P-256"]] as const) {
    const alice = peerParty(agreementCrv, signCrv);
    const bob = peerParty(agreementCrv, signCrv);

    test(`${agreementCrv}/${signCrv}: Haven signed+authcrypt -> didcomm-node`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const res = await packEncrypted(msg, bob.did, haven(alice.keys), { from: alice.did, signBy: alice.did, forward: false });
      const out = await nodeUnpack(res.packed, node(bob.keys));
      expect(plain(out.message)).toEqual(plain(msg));
      expect(out.metadata.encrypted_from_kid).toBe(alice.agreeKid);
      expect(out.metadata.sign_from).toBe(alice.signKid);
    });

    test(`${agreementCrv}/${signCrv}: didcomm-node signed+authcrypt -> Haven`, async () => {
      const msg = sampleMessage(alice.did, bob.did);
      const { packed } = await nodePackEncrypted(msg, bob.did, node(alice.keys), { from: alice.did, signBy: alice.did });
      const { message, metadata } = await unpack(packed, haven(bob.keys));
      expect(plain(message)).toEqual(plain(msg));
      expect(metadata.encryptedFromKid).toBe(alice.agreeKid);
      expect(metadata.sender).toEqual({ kind: "signed", did: alice.did, kid: alice.signKid });
    });
  }
});
