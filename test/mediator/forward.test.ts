// Routing 2.0 forward through MediatorCore: storage in the right mailbox, next forms, dedup, expiry, quota, errors.
import { afterEach, describe, expect, test } from "bun:test";
import { buildForward } from "../../src/didcomm/message/forward.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted } from "../../src/didcomm/pack/index.ts";
import { encryptAnon } from "../../src/didcomm/jwe/anoncrypt.ts";
import { keyAgreementKeys, resolvePeer2 } from "../../src/didcomm/did/index.ts";
import { TYPES } from "../../src/protocols/index.ts";
import { DRIVERS, World, type Agent } from "./harness.ts";

for (const driver of DRIVERS) {
  describe(`routing forward (${driver})`, () => {
    let w: World;
    afterEach(async () => w.close());

    async function enrollWithKey(agent: Agent, recipientDid = agent.did): Promise<void> {
      expect((await w.ask(agent, w.message(agent, TYPES.mediateRequest))).replies[0]?.type).toBe(TYPES.mediateGrant);
      const { replies } = await w.ask(agent, w.message(agent, TYPES.keylistUpdate, { updates: [{ recipient_did: recipientDid, action: "add" }] }));
      expect((replies[0]!.body.updated as { result: string }[])[0]!.result).toBe("success");
    }

    /** A sender's message for `recipient`, packed the standard way (wrapped in a forward to the mediator). */
    async function packedFor(sender: Agent, recipient: Agent, text = "hello"): Promise<string> {
      const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", from: sender.did, to: [recipient.did], body: { text } };
      const r = await packEncrypted(msg, recipient.did, sender.ctx, { from: sender.did });
      expect(r.service?.uri).toBe("http://mediator.test");
      return r.packed;
    }

    /** A forward with chosen next/expiry around an inner envelope, anoncrypted to the mediator by hand. */
    function wrap(next: string, inner: object, opts: { expiresTime?: number } = {}): string {
      const fwd = buildForward(next, inner, opts);
      const key = keyAgreementKeys(resolvePeer2(w.mediatorDid))[0]!;
      return JSON.stringify(encryptAnon(Buffer.from(JSON.stringify(fwd)), [key]));
    }

    async function count(agent: Agent): Promise<number> {
      return (await w.mailbox.stats(agent.did)).count;
    }

    test("a forward to an enrolled recipient is stored in its mailbox and acknowledged", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      const alice = w.agent();
      await enrollWithKey(bob);
      const outcome = await w.receive(await packedFor(alice, bob));
      expect(outcome).toEqual({ kind: "accepted", replies: [] });
      expect(await count(bob)).toBe(1);
      const [stored] = await w.mailbox.list(bob.did, { limit: 10 });
      expect(stored!.recipientDid).toBe(bob.did);
      expect(stored!.expiresAtMs).toBe(w.clock.nowMs() + w.config.limits.messageTtlSeconds * 1000);
    });

    test("next may be a DID URL, in #key-N or legacy multibase form, and the forward has no to header", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enrollWithKey(bob);
      const inner = JSON.parse(await packedFor(w.agent(), bob)) as object;
      // The routed envelope's innermost JWE is bob's; re-wrap it with the other next forms.
      const vm = resolvePeer2(bob.did).verificationMethod.find((m) => m.id.endsWith("#key-2"))!;
      const legacy = `${bob.did}#${vm.publicKeyMultibase!.slice(1)}`;
      for (const next of [`${bob.did}#key-2`, legacy]) {
        const outcome = await w.receive(wrap(next, { ...inner, iv: crypto.randomUUID() }));
        expect(outcome.kind).toBe("accepted");
      }
      expect(await count(bob)).toBe(2);
    });

    test("a key registered in legacy form receives forwards addressed with #key-N", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      const vm = resolvePeer2(bob.did).verificationMethod.find((m) => m.id.endsWith("#key-2"))!;
      await enrollWithKey(bob, `${bob.did}#${vm.publicKeyMultibase!.slice(1)}`);
      const inner = JSON.parse(await packedFor(w.agent(), bob)) as object;
      expect((await w.receive(wrap(`${bob.did}#key-2`, inner))).kind).toBe("accepted");
      expect(await count(bob)).toBe(1);
    });

    test("the same forward is stored once: same bytes, or the same envelope re-wrapped", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enrollWithKey(bob);
      const packed = await packedFor(w.agent(), bob);
      expect((await w.receive(packed)).kind).toBe("accepted");
      expect((await w.receive(packed)).kind).toBe("accepted");
      const innerForward = JSON.parse(packed) as object;
      expect((await w.receive(wrap(bob.did, innerForward))).kind).toBe("accepted");
      expect(await w.receive(wrap(bob.did, innerForward))).toEqual({ kind: "accepted", replies: [] });
      // packed (unwrapped once) and the two re-wraps carry two distinct inner envelopes.
      expect(await count(bob)).toBe(2);
    });

    test("a forward to a DID nobody enrolled is rejected 422 when no sender can be told", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      const outcome = await w.receive(await packedFor(w.agent(), bob));
      expect(outcome).toMatchObject({ kind: "rejected", httpStatus: 422, code: "recipient_not_enrolled", replies: [] });
    });

    test("an authcrypt forward to a DID not enrolled gets a problem report and is still rejected", async () => {
      w = new World({ driver });
      const carol = w.agent();
      const fwd = buildForward("did:example:nobody", JSON.parse(await packedFor(w.agent(), w.mediatedAgent())) as object);
      const msg: Message = { ...fwd, from: carol.did, to: [w.mediatorDid], return_route: "all" };
      const outcome = await w.receive(await w.pack(carol, msg));
      expect(outcome).toMatchObject({ kind: "rejected", httpStatus: 422, code: "recipient_not_enrolled" });
      const [report] = await w.open(carol, outcome.replies);
      expect(report).toMatchObject({ type: TYPES.problemReport, pthid: fwd.id, body: { code: "e.p.req.recipient-not-enrolled" } });
    });

    test("expires_time: an expired forward is refused; a later one caps the stored expiry", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enrollWithKey(bob);
      const inner = JSON.parse(await packedFor(w.agent(), bob)) as object;
      const nowS = Math.floor(w.clock.nowMs() / 1000);
      const expired = await w.receive(wrap(bob.did, inner, { expiresTime: nowS - 1 }));
      expect(expired).toMatchObject({ kind: "rejected", httpStatus: 422, code: "expired" });
      expect(await count(bob)).toBe(0);
      expect((await w.receive(wrap(bob.did, inner, { expiresTime: nowS + 60 }))).kind).toBe("accepted");
      const [stored] = await w.mailbox.list(bob.did, { limit: 1 });
      expect(stored!.expiresAtMs).toBe((nowS + 60) * 1000);
    });

    test("a full mailbox refuses the forward with quota_exceeded", async () => {
      w = new World({ driver, limits: { mailboxMaxMessages: 1 } });
      const bob = w.mediatedAgent();
      await enrollWithKey(bob);
      expect((await w.receive(await packedFor(w.agent(), bob, "one"))).kind).toBe("accepted");
      const full = await w.receive(await packedFor(w.agent(), bob, "two"));
      expect(full).toMatchObject({ kind: "rejected", httpStatus: 429, code: "quota_exceeded" });
      expect(full.kind === "rejected" && full.reason).toContain("count");
      expect(await count(bob)).toBe(1);
    });

    test("a forward whose attachment is not a JWE is invalid", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enrollWithKey(bob);
      const outcome = await w.receive(wrap(bob.did, { hello: "world" }));
      expect(outcome).toMatchObject({ kind: "rejected", httpStatus: 400, code: "invalid_message" });
      expect(await count(bob)).toBe(0);
    });
  });
}
