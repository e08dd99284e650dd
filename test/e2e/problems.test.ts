// E2E: every problem report the issue lists, produced by a real node for didcomm-node agents over HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { nodePackEncrypted } from "../support/didcomm-node.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { bodyOf, deliver, enrol, expectProblem, packVia, sendVia, status, T } from "./helpers.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess();
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

const FORWARD = "https://didcomm.org/routing/2.0/forward";

/** Flips one character in the middle of a base64url field of a JWE (keeps it syntactically valid). */
function tamper(packed: string, field: "ciphertext" | "tag"): string {
  const jwe = JSON.parse(packed) as Record<string, string>;
  const v = jwe[field]!;
  const i = Math.floor(v.length / 2);
  jwe[field] = v.slice(0, i) + (v[i] === "A" ? "B" : "A") + v.slice(i + 1);
  return JSON.stringify(jwe);
}

describe("problem reports", () => {
  test("replay: the same message id from the same sender is refused the second time", async () => {
    const agent = new Agent();
    const ping = agent.message(T.ping, { response_requested: true }, node.did);
    expect((await agent.ask(node, ping)).type).toBe(T.pingResponse);
    // A fresh encryption of the same message: only the id gives it away.
    const again = await agent.request(node, ping);
    expectProblem(again, "e.m.msg.replay", ping.id as string);
  });

  test("unsupported protocol, and a known protocol in an unsupported version naming the supported one", async () => {
    const agent = new Agent();
    const unknown = agent.message("https://example.org/teleport/1.0/beam", {}, node.did);
    expectProblem(await agent.request(node, unknown), "e.p.msg.unsupported", unknown.id as string);

    const v3 = agent.message("https://didcomm.org/trust-ping/3.0/ping", { response_requested: true }, node.did);
    const body = expectProblem(await agent.request(node, v3), "e.p.msg.unsupported.version", v3.id as string);
    expect(JSON.stringify(body.args ?? body.comment)).toContain("2.0");

    const pickup1 = agent.message("https://didcomm.org/messagepickup/1.0/status-request", {}, node.did);
    const b2 = expectProblem(await agent.request(node, pickup1), "e.p.msg.unsupported.version", pickup1.id as string);
    expect(JSON.stringify(b2.args ?? b2.comment)).toContain("3.0");
  });

  test("pickup by a client without mediation, or for a DID enrolled by someone else, is refused and reveals nothing", async () => {
    const victim = await enrol(node);
    expect((await sendVia(node, new Agent(), victim.inbox.did, "secret")).reply.status).toBe(202);

    const stranger = new Agent();
    const st = stranger.message(T.statusRequest, {}, node.did);
    expectProblem(await stranger.request(node, st), "e.p.req.not-enrolled", st.id as string);
    const dr = stranger.message(T.deliveryRequest, { limit: 10 }, node.did);
    expectProblem(await stranger.request(node, dr), "e.p.req.not-enrolled", dr.id as string);

    const other = await enrol(node);
    const foreignStatus = other.control.message(T.statusRequest, { recipient_did: victim.inbox.did }, node.did);
    const body = expectProblem(await other.control.request(node, foreignStatus), "e.p.req.not-enrolled", foreignStatus.id as string);
    expect(JSON.stringify(body)).not.toContain("message_count");
    const foreignDelivery = other.control.message(T.deliveryRequest, { limit: 10, recipient_did: victim.inbox.did }, node.did);
    expectProblem(await other.control.request(node, foreignDelivery), "e.p.req.not-enrolled", foreignDelivery.id as string);
    // messages-received for someone else's ids deletes nothing.
    const victimMsgs = await deliver(node, victim);
    await other.control.ask(node, other.control.message(T.messagesReceived, { message_id_list: victimMsgs.map((d) => d.storedId) }, node.did));
    expect((await status(node, victim)).message_count).toBe(1);
  });

  test("forward to a DID not enrolled: refused (4xx) when anonymous, problem report when the sender can be addressed", async () => {
    const nobody = new Agent([{ uri: node.did, accept: ["didcomm/v2"] }]); // routes via the mediator, never enrolled
    const sender = new Agent();
    const { packed } = await packVia(sender, nobody.did, "lost");
    const anon = await sender.post(node.url, packed);
    expect(anon.status).toBe(422);
    expect(anon.replies).toEqual([]); // nobody to tell

    // The same inner envelope in a forward the sender authcrypts to the mediator, asking for a return route.
    const inner = (await nodePackEncrypted(sender.message(T.basic, { content: "x" }, nobody.did, { return_route: null }), nobody.did, sender.env, { from: sender.did })).packed;
    const fwd = sender.message(FORWARD, { next: nobody.did }, node.did, {
      attachments: [{ id: crypto.randomUUID(), media_type: ENCRYPTED, data: { json: JSON.parse(inner) } }],
    });
    expectProblem(await sender.request(node, fwd), "e.p.req.recipient-not-enrolled", fwd.id as string, 422);
  });

  test("an undecryptable envelope from an addressable sender gets a problem report; a malformed message too", async () => {
    const agent = new Agent();
    const ping = agent.message(T.ping, { response_requested: true }, node.did);
    const broken = tamper(await agent.pack(ping, node.did), "tag");
    // The envelope names its sender (skid), so the report can go back to it, though no thread is known.
    const r = await agent.post(node.url, broken);
    const report = expectProblem(r, "e.p.trust.crypto", undefined, 400);
    expect(r.replies[0]!.message.pthid).toBeUndefined();
    expect(JSON.stringify(report)).not.toContain(ping.id as string);

    // Decrypts fine, but the plaintext is not a valid DIDComm message (body must be an object).
    const bad = agent.message(T.ping, {}, node.did);
    (bad as Record<string, unknown>).body = "not an object";
    expectProblem(await agent.request(node, bad), "e.p.msg.invalid", undefined, 400);
  });

  test("anoncrypt keylist-update and pickup are refused; nothing changes and nothing leaks", async () => {
    const r = await enrol(node);
    expect((await sendVia(node, new Agent(), r.inbox.did, "keep")).reply.status).toBe(202);
    const intruder = new Agent();
    // Anoncrypt, but claiming the enrolled client's DID in `from`: the claim proves nothing.
    const claim = (type: string, body: Record<string, unknown>): Record<string, unknown> => ({ ...r.control.message(type, body, node.did), from: r.control.did });
    for (const msg of [
      claim(T.keylistUpdate, { updates: [{ recipient_did: intruder.did, action: "add" }] }),
      claim(T.keylistQuery, {}),
      claim(T.statusRequest, {}),
      claim(T.deliveryRequest, { limit: 10 }),
      claim(T.messagesReceived, { message_id_list: ["x"] }),
    ]) {
      const packed = (await nodePackEncrypted(msg, node.did, intruder.env)).packed; // anoncrypt
      const res = await intruder.post(node.url, packed, ENCRYPTED, { unpack: false });
      // The report goes to the claimed DID (only its holder can read it) and says only "authenticate".
      expect(res.status).toBe(200);
      const report = await r.control.unpack(res.body);
      expect(report.message.type).toBe(T.problemReport);
      expect(bodyOf(report.message).code).toBe("e.p.trust.authentication-required");
      expect(report.message.pthid).toBe(msg.id);
      expect(JSON.stringify(report.message)).not.toContain("message_count");
    }
    const keys = await r.control.ask(node, r.control.message(T.keylistQuery, {}, node.did));
    expect((bodyOf(keys).keys as { recipient_did: string }[]).map((k) => k.recipient_did)).toEqual([r.inbox.did]);
    expect((await status(node, r)).message_count).toBe(1);
  });
});
