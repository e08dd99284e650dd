// Message Pickup 3.0 through MediatorCore: status, delivery, messages-received, live mode, isolation.
import { afterEach, describe, expect, test } from "bun:test";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, unpack } from "../../src/didcomm/pack/index.ts";
import { TYPES } from "../../src/protocols/index.ts";
import { DRIVERS, FakeSession, World, type Agent } from "./harness.ts";

for (const driver of DRIVERS) {
  describe(`message pickup (${driver})`, () => {
    let w: World;
    afterEach(async () => w.close());

    async function enroll(agent: Agent): Promise<void> {
      await w.ask(agent, w.message(agent, TYPES.mediateRequest));
      await w.ask(agent, w.message(agent, TYPES.keylistUpdate, { updates: [{ recipient_did: agent.did, action: "add" }] }));
    }

    async function forwardTo(recipient: Agent, text: string): Promise<Message> {
      const sender = w.agent();
      const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", from: sender.did, to: [recipient.did], body: { text } };
      const outcome = await w.receive((await packEncrypted(msg, recipient.did, sender.ctx, { from: sender.did })).packed);
      expect(outcome.kind).toBe("accepted");
      return msg;
    }

    async function ask1(agent: Agent, type: string, body: Record<string, unknown> = {}, opts = {}): Promise<Message> {
      const { replies } = await w.ask(agent, w.message(agent, type, body), opts);
      expect(replies).toHaveLength(1);
      return replies[0]!;
    }

    test("status-request reports count, bytes, times and live_delivery", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const empty = await ask1(bob, TYPES.statusRequest);
      expect(empty).toMatchObject({ type: TYPES.status, body: { message_count: 0, total_bytes: 0, live_delivery: false } });
      const t0 = w.clock.nowMs();
      await forwardTo(bob, "one");
      w.clock.advance(5000);
      await forwardTo(bob, "two");
      w.clock.advance(2000);
      const s = await ask1(bob, TYPES.statusRequest);
      expect(s.body.message_count).toBe(2);
      expect(s.body.total_bytes as number).toBeGreaterThan(100);
      expect(s.body.oldest_received_time).toBe(Math.floor(t0 / 1000));
      expect(s.body.newest_received_time).toBe(Math.floor((t0 + 5000) / 1000));
      expect(s.body.longest_waited_seconds).toBe(7);
      const filtered = await ask1(bob, TYPES.statusRequest, { recipient_did: bob.did });
      expect(filtered.body).toMatchObject({ recipient_did: bob.did, message_count: 2 });
    });

    test("delivery-request delivers stored envelopes the recipient can open; messages-received deletes exactly those", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const sent = [await forwardTo(bob, "one"), await forwardTo(bob, "two"), await forwardTo(bob, "three")];
      const req = w.message(bob, TYPES.deliveryRequest, { limit: 2 });
      const { replies } = await w.ask(bob, req);
      const delivery = replies[0]!;
      expect(delivery).toMatchObject({ type: TYPES.delivery, thid: req.id });
      const atts = delivery.attachments!;
      expect(atts).toHaveLength(2);
      const opened = [];
      for (const a of atts) opened.push((await unpack(JSON.stringify(a.data.json), bob.ctx)).message);
      expect(opened.map((m) => m.body.text)).toEqual(["one", "two"]);
      expect(opened[0]!.id).toBe(sent[0]!.id);
      const stored = await w.mailbox.list(bob.did, { limit: 10 });
      expect(atts.map((a) => a.id)).toEqual(stored.slice(0, 2).map((s) => s.id));

      const ack = await ask1(bob, TYPES.messagesReceived, { message_id_list: [atts[0]!.id!, "not-an-id"] });
      expect(ack).toMatchObject({ type: TYPES.status, body: { message_count: 2 } });
      const rest = await w.mailbox.list(bob.did, { limit: 10 });
      expect(rest.map((s) => s.id)).toEqual(stored.slice(1).map((s) => s.id));
    });

    test("delivery-request on an empty mailbox answers with status; bad limit is invalid", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      expect(await ask1(bob, TYPES.deliveryRequest, { limit: 5 })).toMatchObject({ type: TYPES.status, body: { message_count: 0 } });
      expect((await ask1(bob, TYPES.deliveryRequest, { limit: 0 })).body.code).toBe("e.p.msg.invalid");
      expect((await ask1(bob, TYPES.deliveryRequest, {})).body.code).toBe("e.p.msg.invalid");
    });

    test("pickup for a DID the requester did not enroll, or without mediation, or anoncrypted: problem report, no data", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      const eve = w.mediatedAgent();
      await enroll(bob);
      await enroll(eve);
      await forwardTo(bob, "secret");
      const foreign = await ask1(eve, TYPES.deliveryRequest, { limit: 10, recipient_did: bob.did });
      expect(foreign).toMatchObject({ type: TYPES.problemReport, body: { code: "e.p.req.not-enrolled" } });
      const unknown = await ask1(eve, TYPES.statusRequest, { recipient_did: "did:example:unknown" });
      expect(unknown.body).toEqual(foreign.body); // same answer: nothing learnt about bob
      expect((await ask1(eve, TYPES.deliveryRequest, { limit: 10 })).body).toMatchObject({ message_count: 0 });
      const stranger = w.agent();
      expect((await ask1(stranger, TYPES.statusRequest)).body.code).toBe("e.p.req.not-enrolled");
      const anon = await ask1(bob, TYPES.deliveryRequest, { limit: 10 }, { auth: "anoncrypt" });
      expect(anon.body.code).toBe("e.p.trust.authentication-required");
      // eve cannot delete bob's messages by id either.
      const [bobs] = await w.mailbox.list(bob.did, { limit: 1 });
      await ask1(eve, TYPES.messagesReceived, { message_id_list: [bobs!.id] });
      expect((await w.mailbox.stats(bob.did)).count).toBe(1);
    });

    test("live-delivery-change over HTTP gets the spec's problem report; turning it off is a status", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const req = w.message(bob, TYPES.liveDeliveryChange, { live_delivery: true });
      const { replies } = await w.ask(bob, req);
      expect(replies[0]).toMatchObject({ type: TYPES.problemReport, pthid: req.id, body: { code: "e.m.live-mode-not-supported" } });
      expect((await ask1(bob, TYPES.liveDeliveryChange, { live_delivery: false })).type).toBe(TYPES.status);
    });

    test("live mode on WS: arriving messages are pushed as deliveries and stay until messages-received", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const session = new FakeSession("ws-1");
      const on = await ask1(bob, TYPES.liveDeliveryChange, { live_delivery: true }, { kind: "ws", session });
      expect(on).toMatchObject({ type: TYPES.status, body: { live_delivery: true } });
      const sent = await forwardTo(bob, "live!");
      const frame = await session.nextFrame(0);
      const delivery = (await w.open(bob, [frame]))[0]!;
      expect(delivery.type).toBe(TYPES.delivery);
      const att = delivery.attachments![0]!;
      expect((await unpack(JSON.stringify(att.data.json), bob.ctx)).message.id).toBe(sent.id);
      expect((await w.mailbox.stats(bob.did)).count).toBe(1);
      const status = await ask1(bob, TYPES.statusRequest, {}, { kind: "ws", session });
      expect(status.body).toMatchObject({ live_delivery: true, message_count: 1 });
      await ask1(bob, TYPES.messagesReceived, { message_id_list: [att.id!] }, { kind: "ws", session });
      expect((await w.mailbox.stats(bob.did)).count).toBe(0);
      const off = await ask1(bob, TYPES.liveDeliveryChange, { live_delivery: false }, { kind: "ws", session });
      expect(off.body.live_delivery).toBe(false);
      expect(w.core.live.size).toBe(0);
    });

    test("a dead socket never counts as delivered, and closing the session ends live mode", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const session = new FakeSession("ws-2");
      await ask1(bob, TYPES.liveDeliveryChange, { live_delivery: true }, { kind: "ws", session });
      expect(w.core.live.isLive("ws-2", bob.did)).toBe(true);
      session.open = false; // died without a close event yet
      await forwardTo(bob, "lost?");
      await w.mailbox.stats(bob.did); // let the actor finish the notify turn
      expect(session.sent).toHaveLength(0);
      expect((await w.mailbox.stats(bob.did)).count).toBe(1);
      const again = new FakeSession("ws-3");
      await ask1(bob, TYPES.liveDeliveryChange, { live_delivery: true }, { kind: "ws", session: again });
      again.close();
      expect(w.core.live.isLive("ws-3", bob.did)).toBe(false);
    });
  });
}
