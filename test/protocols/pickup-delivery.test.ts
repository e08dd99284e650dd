// Pickup deliveries carry the stored envelopes spliced in (RawJson), or their exact bytes as base64 when not JSON text.
import { afterEach, describe, expect, test } from "bun:test";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, RawJson, unpack } from "../../src/didcomm/pack/index.ts";
import { TYPES } from "../../src/protocols/index.ts";
import { deliveryAttachment } from "../../src/protocols/pickup-messages.ts";
import type { StoredMessage } from "../../src/storage/types.ts";
import { DRIVERS, World, type Agent } from "../mediator/harness.ts";

function stored(payload: Uint8Array, id = "s-1"): StoredMessage {
  return { id, mailbox: "did:example:bob", recipientDid: "did:example:bob", payload, sizeBytes: payload.byteLength, receivedAtMs: 0, expiresAtMs: null };
}

describe("deliveryAttachment", () => {
  test("JSON object text goes in as RawJson over the stored bytes (no copy, no parse)", () => {
    const payload = Buffer.from('{"protected":"x","ciphertext":"ü"}', "utf8");
    const a = deliveryAttachment(stored(payload));
    expect(a.id).toBe("s-1");
    expect(a.media_type).toBe("application/didcomm-encrypted+json");
    expect(a.data.json).toBeInstanceOf(RawJson);
    expect((a.data.json as RawJson).bytes).toBe(payload);
  });

  test("anything else goes over as base64url of the exact stored bytes", () => {
    for (const payload of [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), Buffer.from("[1,2]"), Buffer.from("not json"), new Uint8Array(0)]) {
      const a = deliveryAttachment(stored(payload));
      expect(a.data.json).toBeUndefined();
      expect(Buffer.from(a.data.base64!, "base64url").equals(Buffer.from(payload))).toBe(true);
    }
  });
});

for (const driver of DRIVERS) {
  describe(`delivery through MediatorCore (${driver})`, () => {
    let w: World;
    afterEach(async () => w.close());

    async function enroll(agent: Agent): Promise<void> {
      await w.ask(agent, w.message(agent, TYPES.mediateRequest));
      await w.ask(agent, w.message(agent, TYPES.keylistUpdate, { updates: [{ recipient_did: agent.did, action: "add" }] }));
    }

    test("a large delivery: every attachment is the stored envelope and opens to the sent message", async () => {
      w = new World({ driver, limits: { maxMessageBytes: 16 * 1024 * 1024 } });
      const bob = w.mediatedAgent();
      bob.ctx = { ...bob.ctx, maxEnvelopeBytes: 16 * 1024 * 1024 };
      await enroll(bob);
      const sender = w.agent();
      const sent: Message[] = [];
      for (let i = 0; i < 120; i++) {
        const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", from: sender.did, to: [bob.did], body: { text: `n${i} ü ✓ 🌍 "q"` } };
        const outcome = await w.receive((await packEncrypted(msg, bob.did, sender.ctx, { from: sender.did })).packed);
        expect(outcome.kind).toBe("accepted");
        sent.push(msg);
      }
      const inBox = await w.mailbox.list(bob.did, { limit: 1000 });
      const { replies } = await w.ask(bob, w.message(bob, TYPES.deliveryRequest, { limit: 1000 }));
      const atts = replies[0]!.attachments!;
      expect(replies[0]!.type).toBe(TYPES.delivery);
      expect(atts.map((a) => a.id)).toEqual(inBox.map((s) => s.id));
      for (let i = 0; i < atts.length; i++) {
        expect(JSON.stringify(atts[i]!.data.json)).toBe(Buffer.from(inBox[i]!.payload).toString("utf8"));
        const opened = await unpack(JSON.stringify(atts[i]!.data.json), bob.ctx);
        expect(opened.message).toEqual({ ...sent[i]!, typ: "application/didcomm-plain+json" });
      }
    });

    test("a stored payload that is not JSON text is delivered as its exact bytes in base64", async () => {
      w = new World({ driver });
      const bob = w.mediatedAgent();
      await enroll(bob);
      const odd = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]); // `{"?"}` with an invalid UTF-8 byte
      const res = await w.mailbox.deliver({
        id: "odd-1",
        mailbox: bob.did,
        recipientDid: bob.did,
        payload: odd,
        receivedAtMs: w.clock.nowMs(),
        expiresAtMs: null,
        dedupKey: "odd-1",
      });
      expect(res.result.status).toBe("stored");
      const { replies } = await w.ask(bob, w.message(bob, TYPES.deliveryRequest, { limit: 10 }));
      const atts = replies[0]!.attachments!;
      expect(atts).toHaveLength(1);
      expect(atts[0]!.data.json).toBeUndefined();
      expect(Buffer.from(atts[0]!.data.base64!, "base64url").equals(odd)).toBe(true);
    });
  });
}
