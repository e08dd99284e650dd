// E2E: WebSocket transport and Message Pickup 3.0 live mode against a real node process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { bodyOf, contentOf, deliver, enrol, expectProblem, openDelivery, sendVia, status, T } from "./helpers.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess();
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

describe("websocket and live mode", () => {
  test("requests over a WebSocket are answered on the same socket, text and binary frames alike", async () => {
    const agent = new Agent();
    const ws = await agent.connect(node);
    try {
      const ping = agent.message(T.ping, { response_requested: true }, node.did);
      ws.send(await agent.pack(ping, node.did));
      const pong = await ws.next();
      expect(pong.type).toBe(T.pingResponse);
      expect(pong.thid).toBe(ping.id);

      const req = agent.message(T.mediateRequest, {}, node.did);
      ws.send(await agent.pack(req, node.did), true);
      const grant = await ws.next();
      expect(grant.type).toBe(T.mediateGrant);
      expect(grant.thid).toBe(req.id);
    } finally {
      await ws.close();
    }
  });

  test("a message arriving while live is pushed at once, stays until messages-received, and survives a reconnect", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const ws = await r.control.connect(node);
    const on = r.control.message(T.liveDeliveryChange, { live_delivery: true }, node.did);
    ws.send(await r.control.pack(on, node.did));
    const st = await ws.next();
    expect(st.type).toBe(T.status);
    expect(bodyOf(st).live_delivery).toBe(true);

    expect((await sendVia(node, sender, r.inbox.did, "live one")).reply.status).toBe(202);
    const pushed = await ws.next();
    const [live] = await openDelivery(r, pushed);
    expect(contentOf(live!)).toBe("live one");
    // Pushed is not delivered: still stored.
    expect((await status(node, r)).message_count).toBe(1);

    await ws.close();
    const ws2 = await r.control.connect(node);
    try {
      // After the reconnect (live mode ended with the old socket) the message is still there to pick up.
      const req = r.control.message(T.deliveryRequest, { limit: 10 }, node.did);
      ws2.send(await r.control.pack(req, node.did));
      const again = await openDelivery(r, await ws2.next());
      expect(again.map((d) => d.storedId)).toEqual([live!.storedId]);

      const ack = r.control.message(T.messagesReceived, { message_id_list: [live!.storedId] }, node.did);
      ws2.send(await r.control.pack(ack, node.did));
      const after = await ws2.next();
      expect(after.type).toBe(T.status);
      expect(bodyOf(after).message_count).toBe(0);
    } finally {
      await ws2.close();
    }
    expect(await deliver(node, r)).toEqual([]);
  });

  test("live mode off stops pushing; the message waits for pickup", async () => {
    const r = await enrol(node);
    const sender = new Agent();
    const ws = await r.control.connect(node);
    try {
      ws.send(await r.control.pack(r.control.message(T.liveDeliveryChange, { live_delivery: true }, node.did), node.did));
      expect(bodyOf(await ws.next()).live_delivery).toBe(true);
      ws.send(await r.control.pack(r.control.message(T.liveDeliveryChange, { live_delivery: false }, node.did), node.did));
      expect(bodyOf(await ws.next()).live_delivery).toBe(false);
      expect((await sendVia(node, sender, r.inbox.did, "queued")).reply.status).toBe(202);
      // A ping after the forward: its answer is the next frame, so nothing was pushed in between.
      ws.send(await r.control.pack(r.control.message(T.ping, { response_requested: true }, node.did), node.did));
      expect((await ws.next()).type).toBe(T.pingResponse);
      expect((await deliver(node, r)).map(contentOf)).toEqual(["queued"]);
    } finally {
      await ws.close();
    }
  });

  test("live-delivery-change over plain HTTP is refused with a problem report", async () => {
    const r = await enrol(node);
    const msg = r.control.message(T.liveDeliveryChange, { live_delivery: true }, node.did);
    const reply = await r.control.request(node, msg);
    expectProblem(reply, "e.m.live-mode-not-supported", msg.id as string);
  });
});
