// Routing forward ingest fast paths: time-ordered stored ids, cached next validation and key spellings behave as before.
import { afterEach, describe, expect, test } from "bun:test";
import { FORWARD_TYPE, buildForward } from "../../src/didcomm/message/forward.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted } from "../../src/didcomm/pack/index.ts";
import { encryptAnon } from "../../src/didcomm/jwe/anoncrypt.ts";
import { keyAgreementKeys, resolvePeer2 } from "../../src/didcomm/did/index.ts";
import { createHash } from "node:crypto";
import { TYPES, dedupKeyOf } from "../../src/protocols/index.ts";
import { eventDedupIdOf } from "../../src/protocols/routing.ts";
import type { HandlerContext } from "../../src/protocols/types.ts";
import { World, type Agent } from "../mediator/harness.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("routing forward ingest", () => {
  let w: World;
  afterEach(async () => w.close());

  async function enrol(agent: Agent, recipientDid = agent.did): Promise<void> {
    await w.ask(agent, w.message(agent, TYPES.mediateRequest));
    const { replies } = await w.ask(agent, w.message(agent, TYPES.keylistUpdate, { updates: [{ recipient_did: recipientDid, action: "add" }] }));
    expect((replies[0]!.body.updated as { result: string }[])[0]!.result).toBe("success");
  }

  async function innerFor(recipient: Agent, text: string): Promise<object> {
    const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", to: [recipient.did], body: { text } };
    return JSON.parse((await packEncrypted(msg, recipient.did, w.agent().ctx)).packed) as object;
  }

  /** A forward (or a message shaped like one, with another type) around `inner`, anoncrypted to the mediator. */
  function wrap(next: string, inner: object, type = FORWARD_TYPE): string {
    const fwd = { ...buildForward(next, inner), type };
    const key = keyAgreementKeys(resolvePeer2(w.mediatorDid))[0]!;
    return JSON.stringify(encryptAnon(Buffer.from(JSON.stringify(fwd)), [key]));
  }

  test("stored message ids are UUIDv7, in arrival order; the payload is the attached envelope", async () => {
    w = new World({ driver: "sqlite" });
    const bob = w.mediatedAgent();
    await enrol(bob);
    const inners: object[] = [];
    for (let i = 0; i < 20; i++) {
      const inner = await innerFor(bob, `m${i}`);
      inners.push(inner);
      expect((await w.receive(wrap(bob.did, inner))).kind).toBe("accepted");
    }
    const stored = await w.mailbox.list(bob.did, { limit: 100 });
    expect(stored.length).toBe(20);
    for (const m of stored) expect(m.id).toMatch(UUID_V7);
    const ids = stored.map((m) => m.id);
    expect([...ids].sort()).toEqual(ids); // list is oldest first, and the ids sort the same way
    expect(stored.map((m) => JSON.parse(Buffer.from(m.payload).toString("utf8")) as object)).toEqual(inners);
  });

  test("a key-id next resolves to the same mailbox on every forward (cached spellings), legacy form included", async () => {
    w = new World({ driver: "memory" });
    const bob = w.mediatedAgent();
    const vm = resolvePeer2(bob.did).verificationMethod.find((m) => m.id.endsWith("#key-2"))!;
    const legacy = `${bob.did}#${vm.publicKeyMultibase!.slice(1)}`;
    await enrol(bob, legacy);
    for (let i = 0; i < 3; i++) {
      for (const next of [`${bob.did}#key-2`, legacy]) expect((await w.receive(wrap(next, await innerFor(bob, `k${i}`)))).kind).toBe("accepted");
    }
    const stored = await w.mailbox.list(bob.did, { limit: 10 });
    expect(stored.length).toBe(6);
    for (const m of stored) expect(m.recipientDid).toBe(legacy);
  });

  test("a next seen before does not let a malformed forward through: other versions and attachment shapes are still refused", async () => {
    w = new World({ driver: "memory" });
    const bob = w.mediatedAgent();
    await enrol(bob);
    expect((await w.receive(wrap(bob.did, await innerFor(bob, "first")))).kind).toBe("accepted");
    // Routing 2.1 reaches the same handler (semver) but parseForward takes 2.0 only: refused exactly as before.
    const v21 = await w.receive(wrap(bob.did, await innerFor(bob, "v21"), "https://didcomm.org/routing/2.1/forward"));
    expect(v21).toMatchObject({ kind: "rejected", code: "invalid_message" });
    const notJwe = await w.receive(wrap(bob.did, { hello: "world" }));
    expect(notJwe).toMatchObject({ kind: "rejected", code: "invalid_message" });
    const twoAttachments = { ...buildForward(bob.did, await innerFor(bob, "two")) };
    twoAttachments.attachments = [...twoAttachments.attachments!, ...twoAttachments.attachments!];
    const key = keyAgreementKeys(resolvePeer2(w.mediatorDid))[0]!;
    const two = await w.receive(JSON.stringify(encryptAnon(Buffer.from(JSON.stringify(twoAttachments)), [key])));
    expect(two).toMatchObject({ kind: "rejected", code: "invalid_message" });
    expect((await w.mailbox.stats(bob.did)).count).toBe(1);
  });

  test("dedup keys and event ids are the same SHA-256 values as before (keys already stored stay valid)", () => {
    w = new World({ driver: "memory" });
    const jwe = { ciphertext: "c\u00e9\u{1F600}", iv: "iv", tag: "tag" };
    const msg: Message = { id: "m-1", type: FORWARD_TYPE, body: {} };
    const anon = { sender: { kind: "anonymous" } } as unknown as HandlerContext;
    const node = createHash("sha256");
    for (const v of [jwe.ciphertext, jwe.iv, jwe.tag]) node.update(v).update("\u0000");
    expect(dedupKeyOf(msg, anon, jwe)).toBe(`sha256:${node.digest("base64url")}`);
    const authed = { sender: { kind: "authcrypt", did: "did:example:alice" } } as unknown as HandlerContext;
    expect(dedupKeyOf(msg, authed, jwe)).toBe(`id:${createHash("sha256").update("did:example:alice").update("\u0000").update("m-1").digest("base64url")}`);
    expect(eventDedupIdOf("did:example:bob", "sha256:k")).toBe(createHash("sha256").update("did:example:bob").update("\u0000").update("sha256:k").digest("base64url"));
  });
});
