// Coordinate Mediation 2.0 through MediatorCore: grant/deny, keylist-update results, keylist-query paging.
import { afterEach, describe, expect, test } from "bun:test";
import { TYPES } from "../../src/protocols/index.ts";
import { DRIVERS, World, type Agent } from "./harness.ts";

for (const driver of DRIVERS) {
  describe(`coordinate mediation (${driver})`, () => {
    let w: World;
    afterEach(async () => w.close());

    async function enroll(agent: Agent): Promise<void> {
      const { replies } = await w.ask(agent, w.message(agent, TYPES.mediateRequest));
      expect(replies[0]?.type).toBe(TYPES.mediateGrant);
    }

    async function update(agent: Agent, updates: unknown[]) {
      const { replies } = await w.ask(agent, w.message(agent, TYPES.keylistUpdate, { updates }));
      expect(replies[0]?.type).toBe(TYPES.keylistUpdateResponse);
      return replies[0]!.body.updated as { recipient_did: string; action: string; result: string }[];
    }

    test("mediate-request gets a grant whose routing_did is the mediator DID, in the request's thread", async () => {
      w = new World({ driver });
      const a = w.agent();
      const req = w.message(a, TYPES.mediateRequest);
      const { outcome, replies } = await w.ask(a, req);
      expect(outcome.kind).toBe("accepted");
      expect(replies).toHaveLength(1);
      expect(replies[0]!.type).toBe(TYPES.mediateGrant);
      expect(replies[0]!.body.routing_did).toBe(w.mediatorDid);
      expect(replies[0]!.thid).toBe(req.id);
      expect(replies[0]!.to).toEqual([a.did]);
      expect(await w.storage.mediations.get(a.did)).toMatchObject({ clientDid: a.did, routingDid: w.mediatorDid });
    });

    test("a signed (non-authcrypt) request is authenticated too", async () => {
      w = new World({ driver });
      const a = w.agent();
      const { replies } = await w.ask(a, w.message(a, TYPES.mediateRequest), { auth: "signed" });
      expect(replies[0]?.type).toBe(TYPES.mediateGrant);
    });

    test("allowlist policy: listed DIDs get a grant, others a deny and no mediation", async () => {
      // Agents are plain did:peer:2 keys: create them in a first world so the allowlist can name one.
      w = new World({ driver });
      const a = w.agent();
      const b = w.agent();
      await w.close();
      w = new World({ driver, mediation: { policy: "allowlist", allowlist: [a.did] } });
      const a2 = { ...a, ctx: { ...a.ctx, resolver: w.resolver } };
      const b2 = { ...b, ctx: { ...b.ctx, resolver: w.resolver } };
      expect((await w.ask(a2, w.message(a2, TYPES.mediateRequest))).replies[0]?.type).toBe(TYPES.mediateGrant);
      const denied = await w.ask(b2, w.message(b2, TYPES.mediateRequest));
      expect(denied.replies[0]?.type).toBe(TYPES.mediateDeny);
      expect(await w.storage.mediations.get(b.did)).toBeUndefined();
    });

    test("anoncrypt mediate-request with a claimed from gets a trust problem report, nothing granted", async () => {
      w = new World({ driver });
      const a = w.agent();
      const req = w.message(a, TYPES.mediateRequest);
      const { replies } = await w.ask(a, req, { auth: "anoncrypt" });
      expect(replies[0]?.type).toBe(TYPES.problemReport);
      expect(replies[0]?.body.code).toBe("e.p.trust.authentication-required");
      expect(replies[0]?.pthid).toBe(req.id);
      expect(await w.storage.mediations.get(a.did)).toBeUndefined();
    });

    test("anoncrypt request without from is rejected 403 (no one to report to)", async () => {
      w = new World({ driver });
      const a = w.agent();
      const outcome = await w.send(a, w.message(undefined, TYPES.mediateRequest), { auth: "anoncrypt" });
      expect(outcome).toMatchObject({ kind: "rejected", httpStatus: 403, code: "not_authenticated", replies: [] });
    });

    test("keylist-update: success, no_change, client_error for bad entries and foreign DIDs", async () => {
      w = new World({ driver });
      const a = w.agent();
      const b = w.agent();
      await enroll(a);
      await enroll(b);
      const key = "did:example:recipient-1";
      expect(await update(a, [{ recipient_did: key, action: "add" }])).toEqual([{ recipient_did: key, action: "add", result: "success" }]);
      const results = await update(a, [
        { recipient_did: key, action: "add" },
        { recipient_did: "not a did", action: "add" },
        { recipient_did: "did:example:x", action: "explode" },
        "garbage",
        { recipient_did: "did:example:recipient-2", action: "remove" },
        { recipient_did: `${a.did}#key-2`, action: "add" },
      ]);
      expect(results.map((r) => r.result)).toEqual(["no_change", "client_error", "client_error", "client_error", "no_change", "success"]);
      // b cannot take a's recipient DID, and learns only client_error.
      expect(await update(b, [{ recipient_did: key, action: "add" }])).toEqual([{ recipient_did: key, action: "add", result: "client_error" }]);
      expect(await w.storage.mediations.ownerOf(key)).toBe(a.did);
      expect(await update(a, [{ recipient_did: key, action: "remove" }])).toEqual([{ recipient_did: key, action: "remove", result: "success" }]);
      expect(await w.storage.mediations.ownerOf(key)).toBeUndefined();
    });

    test("keylist-update without a mediation, or anoncrypted, gets a problem report", async () => {
      w = new World({ driver });
      const a = w.agent();
      const upd = w.message(a, TYPES.keylistUpdate, { updates: [{ recipient_did: "did:example:r", action: "add" }] });
      const { replies } = await w.ask(a, upd);
      expect(replies[0]).toMatchObject({ type: TYPES.problemReport, pthid: upd.id, body: { code: "e.p.req.not-enrolled" } });
      await enroll(a);
      const anon = await w.ask(a, w.message(a, TYPES.keylistUpdate, { updates: [{ recipient_did: "did:example:r", action: "add" }] }), { auth: "anoncrypt" });
      expect(anon.replies[0]?.body.code).toBe("e.p.trust.authentication-required");
      expect(await w.storage.mediations.ownerOf("did:example:r")).toBeUndefined();
    });

    test("keylist-update with too many updates or no array is invalid", async () => {
      w = new World({ driver });
      const a = w.agent();
      await enroll(a);
      const many = Array.from({ length: 101 }, (_, i) => ({ recipient_did: `did:example:k${i}`, action: "add" }));
      for (const body of [{ updates: many }, { updates: "x" }]) {
        const { replies } = await w.ask(a, w.message(a, TYPES.keylistUpdate, body));
        expect(replies[0]?.body.code).toBe("e.p.msg.invalid");
      }
    });

    test("keylist-query pages through the keys with count, offset and remaining", async () => {
      w = new World({ driver });
      const a = w.agent();
      await enroll(a);
      const keys = ["did:example:a", "did:example:b", "did:example:c", "did:example:d", "did:example:e"];
      await update(a, keys.map((k) => ({ recipient_did: k, action: "add" })));
      const q = w.message(a, TYPES.keylistQuery, { paginate: { limit: 2, offset: 2 } });
      const { replies } = await w.ask(a, q);
      expect(replies[0]).toMatchObject({ type: TYPES.keylist, thid: q.id });
      expect(replies[0]!.body).toEqual({ keys: [{ recipient_did: "did:example:c" }, { recipient_did: "did:example:d" }], pagination: { count: 2, offset: 2, remaining: 1 } });
      const all = await w.ask(a, w.message(a, TYPES.keylistQuery));
      expect((all.replies[0]!.body.keys as unknown[]).length).toBe(5);
      const bad = await w.ask(a, w.message(a, TYPES.keylistQuery, { paginate: { limit: -1, offset: 0 } }));
      expect(bad.replies[0]?.body.code).toBe("e.p.msg.invalid");
    });
  });
}
