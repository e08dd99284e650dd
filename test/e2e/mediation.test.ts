// E2E: Coordinate Mediation 2.0 against a real node process, with didcomm-node agents over HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { bodyOf, enrol, T } from "./helpers.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess();
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

describe("coordinate mediation 2.0", () => {
  test("mediate-request is granted with the mediator's routing DID, threaded on the request", async () => {
    const agent = new Agent();
    const req = agent.message(T.mediateRequest, {}, node.did);
    const r = await agent.request(node, req);
    expect(r.status).toBe(200);
    expect(r.contentType).toContain("application/didcomm-encrypted+json");
    const grant = r.replies[0]!;
    expect(grant.metadata.authenticated).toBe(true); // authcrypt from the mediator
    expect(grant.message.type).toBe(T.mediateGrant);
    expect(grant.message.from).toBe(node.did);
    expect(grant.message.thid).toBe(req.id);
    expect(bodyOf(grant.message).routing_did).toBe(node.did);
    // Asking again keeps the mediation: still granted.
    const again = await agent.ask(node, agent.message(T.mediateRequest, {}, node.did));
    expect(again.type).toBe(T.mediateGrant);
  });

  test("keylist-update gives a result per entry, and keylist-query pages through the keylist", async () => {
    const { control } = await enrol(node);
    const a = new Agent().did;
    const b = new Agent().did;
    const c = new Agent().did;
    const update = (updates: unknown[]) => control.ask(node, control.message(T.keylistUpdate, { updates }, node.did));

    const res = await update([
      { recipient_did: a, action: "add" },
      { recipient_did: b, action: "add" },
      { recipient_did: a, action: "add" },
      { recipient_did: c, action: "remove" },
      { recipient_did: "not a did", action: "add" },
      { recipient_did: c, action: "frobnicate" },
    ]);
    expect(res.type).toBe(T.keylistUpdateResponse);
    expect((bodyOf(res).updated as { result: string }[]).map((u) => u.result)).toEqual([
      "success",
      "success",
      "no_change",
      "no_change",
      "client_error",
      "client_error",
    ]);

    const all = await control.ask(node, control.message(T.keylistQuery, {}, node.did));
    expect(all.type).toBe(T.keylist);
    const keys = (bodyOf(all).keys as { recipient_did: string }[]).map((k) => k.recipient_did);
    expect(keys).toContain(a);
    expect(keys).toContain(b);
    expect(keys.length).toBe(3); // a, b and the inbox DID enrol() added

    // Pagination: pages of 2 cover the whole keylist exactly once.
    const seen: string[] = [];
    for (let offset = 0; offset < 10; offset += 2) {
      const page = await control.ask(node, control.message(T.keylistQuery, { paginate: { limit: 2, offset } }, node.did));
      const pageKeys = (bodyOf(page).keys as { recipient_did: string }[]).map((k) => k.recipient_did);
      seen.push(...pageKeys);
      const p = bodyOf(page).pagination as { count: number; offset: number; remaining: number };
      expect(p.count).toBe(pageKeys.length);
      expect(p.offset).toBe(offset);
      if (p.remaining === 0) break;
    }
    expect(seen.sort()).toEqual([...keys].sort());

    const removed = await update([{ recipient_did: a, action: "remove" }]);
    expect(bodyOf(removed).updated).toEqual([{ recipient_did: a, action: "remove", result: "success" }]);
    const after = await control.ask(node, control.message(T.keylistQuery, {}, node.did));
    expect((bodyOf(after).keys as { recipient_did: string }[]).map((k) => k.recipient_did)).not.toContain(a);
  });

  test("a recipient DID already registered by another mediation is refused", async () => {
    const first = await enrol(node);
    const second = await enrol(node);
    const res = await second.control.ask(
      node,
      second.control.message(T.keylistUpdate, { updates: [{ recipient_did: first.inbox.did, action: "add" }] }, node.did),
    );
    expect(bodyOf(res).updated).toEqual([{ recipient_did: first.inbox.did, action: "add", result: "client_error" }]);
    // The other client cannot remove it either: its own keylist does not hold it.
    const rm = await second.control.ask(
      node,
      second.control.message(T.keylistUpdate, { updates: [{ recipient_did: first.inbox.did, action: "remove" }] }, node.did),
    );
    expect((bodyOf(rm).updated as { result: string }[])[0]!.result).not.toBe("success");
    const q = await first.control.ask(node, first.control.message(T.keylistQuery, {}, node.did));
    expect((bodyOf(q).keys as { recipient_did: string }[]).map((k) => k.recipient_did)).toEqual([first.inbox.did]);
  });
});
