// The minted mediator DID works in didcomm-node (SICPA didcomm-rust): it packs to our kids and unpacks with our keys.
import { describe, expect, test } from "bun:test";
import { Message } from "didcomm-node";
import { createPeer2, resolvePeer2, toJwkDocument, type DidDocument } from "../../src/didcomm/did/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart, type KeyRef, type PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import { generateIdentity, mintMediatorDid } from "../../src/didcomm/identity/index.ts";

function resolverOf(docs: DidDocument[]) {
  return {
    resolve: async (did: string) => (docs.find((d) => d.id === did) ?? null) as never,
  };
}

function secretsOf(keys: KeyRef<PrivateJwk>[]) {
  const find = (id: string) => keys.find((k) => k.kid === id);
  return {
    get_secret: async (id: string) => {
      const k = find(id);
      return k === undefined ? null : { id, type: "JsonWebKey2020", privateKeyJwk: { kty: k.jwk.kty, crv: k.jwk.crv, x: k.jwk.x, d: k.jwk.d } };
    },
    find_secrets: async (ids: string[]) => ids.filter((id) => find(id) !== undefined),
  };
}

describe("didcomm-node interop", () => {
  test("authcrypt from a did:peer:2 peer to the minted mediator DID round-trips through didcomm-node", async () => {
    const mediator = mintMediatorDid(generateIdentity(), { httpUri: "https://m.example/didcomm", wsUri: "wss://m.example/ws" });
    const aliceX = generateJwk("X25519");
    const aliceEd = generateJwk("Ed25519");
    const alice = createPeer2({ agreementKeys: [publicPart(aliceX)], authenticationKeys: [publicPart(aliceEd)], services: [] });
    const aliceDoc = resolvePeer2(alice);
    const docs = [toJwkDocument(mediator.document), toJwkDocument(aliceDoc)];
    const aliceKeys: KeyRef<PrivateJwk>[] = [
      { kid: `${alice}#key-1`, jwk: aliceEd },
      { kid: `${alice}#key-2`, jwk: aliceX },
    ];

    const msg = new Message({
      id: "1",
      typ: "application/didcomm-plain+json",
      type: "https://didcomm.org/trust-ping/2.0/ping",
      from: alice,
      to: [mediator.did],
      body: { response_requested: true },
    });
    const [packed, meta] = await msg.pack_encrypted(mediator.did, alice, alice, resolverOf(docs), secretsOf(aliceKeys), { forward: false });
    expect(meta.to_kids).toEqual([mediator.keys[0]!.kid]);
    expect(meta.from_kid).toBe(`${alice}#key-2`);

    const [unpacked, umeta] = await Message.unpack(packed, resolverOf(docs), secretsOf(mediator.keys), {});
    expect(unpacked.as_value().body).toEqual({ response_requested: true });
    expect(umeta.authenticated).toBe(true);
    expect(umeta.non_repudiation).toBe(true);
    expect(umeta.encrypted_to_kids).toEqual([mediator.keys[0]!.kid]);
  });
});
