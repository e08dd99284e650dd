// E2E: Routing 2.0 forwards from a didcomm-node sender, then Message Pickup 3.0 over HTTP, against a real node process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { nodePackEncrypted, nodeWrapInForward } from "../support/didcomm-node.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { bodyOf, contentOf, deliver, enrol, received, sendVia, status, T } from "./helpers.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess();
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

describe("forward and pickup", () => {
  test("forwards are stored (202, no body) and picked up, messages-received deletes exactly the listed ones", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const before = Math.floor(Date.now() / 1000);

    const empty = await status(node, r);
    expect(empty.message_count).toBe(0);
    expect(await deliver(node, r)).toEqual([]);

    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { reply } = await sendVia(node, sender, r.inbox.did, `hello ${i}`);
      expect(reply.status).toBe(202);
      expect(reply.body).toBe("");
      sent.push(`hello ${i}`);
    }

    const st = await status(node, r);
    expect(st.message_count).toBe(3);
    expect(st.total_bytes as number).toBeGreaterThan(0);
    expect(st.live_delivery).toBe(false);
    expect(st.newest_received_time as number).toBeGreaterThanOrEqual(before);
    expect(st.oldest_received_time as number).toBeGreaterThanOrEqual(before);
    expect(st.longest_waited_seconds as number).toBeGreaterThanOrEqual(0);
    // Filtered by the recipient DID: the same three.
    expect((await status(node, r, r.inbox.did)).message_count).toBe(3);

    const limited = await deliver(node, r, 2);
    expect(limited.length).toBe(2);
    const all = await deliver(node, r, 10);
    expect(all.map(contentOf).sort()).toEqual(sent);
    for (const d of all) {
      expect(d.message.from).toBe(sender.did);
      expect(d.message.to).toEqual([r.inbox.did]);
    }
    // Delivery does not delete: the same three are still there.
    expect((await status(node, r)).message_count).toBe(3);

    const ack = await received(node, r, [all[0]!.storedId]);
    expect(ack.type).toBe(T.status);
    expect(bodyOf(ack).message_count).toBe(2);
    const rest = await deliver(node, r, 10);
    expect(rest.map((d) => d.storedId).sort()).toEqual(all.slice(1).map((d) => d.storedId).sort());

    await received(node, r, rest.map((d) => d.storedId));
    expect((await status(node, r)).message_count).toBe(0);
    expect(await deliver(node, r)).toEqual([]);
  });

  test("the same forward posted twice is stored once", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const { packed } = await sendVia(node, sender, r.inbox.did, "once");
    const again = await sender.post(node.url, packed);
    expect(again.status).toBe(202);
    const got = await deliver(node, r);
    expect(got.map(contentOf)).toEqual(["once"]);
  });

  test("a delivery-request with a large limit is answered (the mediator may cap the batch), never dropped", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const QUEUED = 70; // above the message model's default attachment bound (64)
    for (let i = 0; i < QUEUED; i++) expect((await sendVia(node, sender, r.inbox.did, `bulk ${i}`)).reply.status).toBe(202);
    const seen = new Set<string>();
    for (let round = 0; round < QUEUED && seen.size < QUEUED; round++) {
      const batch = await deliver(node, r, 1000);
      expect(batch.length).toBeGreaterThan(0);
      for (const d of batch) seen.add(contentOf(d));
      await received(node, r, batch.map((d) => d.storedId));
    }
    expect(seen.size).toBe(QUEUED);
  });

  test("a forward whose next is a key id (DID URL), wrapped by didcomm-node, reaches the DID's mailbox", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const msg = sender.message(T.basic, { content: "by key id" }, r.inbox.did, { return_route: null });
    const inner = (await nodePackEncrypted(msg, r.inbox.did, sender.env, { from: sender.did })).packed;
    const mediatorKey = `${node.did}#key-2`; // the mediator's X25519 key agreement key
    const outer = await nodeWrapInForward(inner, r.inbox.agreementKid, [mediatorKey], sender.env);
    expect(JSON.parse(outer).recipients[0].header.kid).toBe(mediatorKey);
    expect((await sender.post(node.url, outer)).status).toBe(202);
    expect((await deliver(node, r)).map(contentOf)).toEqual(["by key id"]);
  });

  test("mailboxes are separate: each recipient picks up only its own messages", async () => {
    const alice = await enrol(node);
    const bob = await enrol(node);
    const sender = new Agent();
    expect((await sendVia(node, sender, alice.inbox.did, "for alice")).reply.status).toBe(202);
    expect((await sendVia(node, sender, bob.inbox.did, "for bob")).reply.status).toBe(202);
    expect((await deliver(node, alice)).map(contentOf)).toEqual(["for alice"]);
    expect((await deliver(node, bob)).map(contentOf)).toEqual(["for bob"]);
  });

  test("trust ping is answered in the thread; discover features discloses the protocols, wildcards included", async () => {
    const agent = new Agent();
    const ping = agent.message(T.ping, { response_requested: true }, node.did);
    const pong = await agent.ask(node, ping);
    expect(pong.type).toBe(T.pingResponse);
    expect(pong.thid).toBe(ping.id);

    const quiet = await agent.request(node, agent.message(T.ping, { response_requested: false }, node.did));
    expect(quiet.status).toBe(202);

    const q = agent.message(T.queries, { queries: [{ "feature-type": "protocol", match: "https://didcomm.org/*" }] }, node.did);
    const disclose = await agent.ask(node, q);
    expect(disclose.type).toBe(T.disclose);
    expect(disclose.thid).toBe(q.id);
    const ids = (bodyOf(disclose).disclosures as { id: string; "feature-type": string }[]).map((d) => d.id);
    for (const p of [
      "https://didcomm.org/coordinate-mediation/2.0",
      "https://didcomm.org/routing/2.0",
      "https://didcomm.org/messagepickup/3.0",
      "https://didcomm.org/trust-ping/2.0",
      "https://didcomm.org/discover-features/2.0",
    ]) {
      expect(ids).toContain(p);
    }
    const narrow = await agent.ask(node, agent.message(T.queries, { queries: [{ "feature-type": "protocol", match: "https://didcomm.org/messagepickup/*" }] }, node.did));
    expect((bodyOf(narrow).disclosures as { id: string }[]).map((d) => d.id)).toEqual(["https://didcomm.org/messagepickup/3.0"]);
  });
});
