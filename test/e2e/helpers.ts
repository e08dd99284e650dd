// Shared e2e steps over a real node: mediation set-up, forwards from a didcomm-node sender, pickup, assertions on replies.
import { expect } from "bun:test";
import { Agent, type HttpReply, type MediatorRef } from "../support/agent.ts";
import { nodePackEncrypted } from "../support/didcomm-node.ts";

const ORG = "https://didcomm.org";
export const T = {
  mediateRequest: `${ORG}/coordinate-mediation/2.0/mediate-request`,
  mediateGrant: `${ORG}/coordinate-mediation/2.0/mediate-grant`,
  keylistUpdate: `${ORG}/coordinate-mediation/2.0/keylist-update`,
  keylistUpdateResponse: `${ORG}/coordinate-mediation/2.0/keylist-update-response`,
  keylistQuery: `${ORG}/coordinate-mediation/2.0/keylist-query`,
  keylist: `${ORG}/coordinate-mediation/2.0/keylist`,
  statusRequest: `${ORG}/messagepickup/3.0/status-request`,
  status: `${ORG}/messagepickup/3.0/status`,
  deliveryRequest: `${ORG}/messagepickup/3.0/delivery-request`,
  delivery: `${ORG}/messagepickup/3.0/delivery`,
  messagesReceived: `${ORG}/messagepickup/3.0/messages-received`,
  liveDeliveryChange: `${ORG}/messagepickup/3.0/live-delivery-change`,
  ping: `${ORG}/trust-ping/2.0/ping`,
  pingResponse: `${ORG}/trust-ping/2.0/ping-response`,
  queries: `${ORG}/discover-features/2.0/queries`,
  disclose: `${ORG}/discover-features/2.0/disclose`,
  problemReport: `${ORG}/report-problem/2.0/problem-report`,
  basic: "https://didcomm.org/basicmessage/2.0/message",
} as const;

/** A mediated recipient: `control` talks to the mediator; `inbox` is its public DID, routed via the mediator. */
export interface Recipient {
  control: Agent;
  inbox: Agent;
}

export function bodyOf(msg: Record<string, unknown>): Record<string, unknown> {
  return msg.body as Record<string, unknown>;
}

/** Requests mediation and registers a fresh public DID whose service is the granted routing DID. */
export async function enrol(m: MediatorRef): Promise<Recipient> {
  const control = new Agent();
  const grant = await control.ask(m, control.message(T.mediateRequest, {}, m.did));
  expect(grant.type).toBe(T.mediateGrant);
  const routingDid = bodyOf(grant).routing_did as string;
  expect(typeof routingDid).toBe("string");
  const inbox = new Agent([{ uri: routingDid, accept: ["didcomm/v2"] }]);
  const res = await control.ask(m, control.message(T.keylistUpdate, { updates: [{ recipient_did: inbox.did, action: "add" }] }, m.did));
  expect(bodyOf(res).updated).toEqual([{ recipient_did: inbox.did, action: "add", result: "success" }]);
  return { control, inbox };
}

/**
 * A sender (its own didcomm-node agent) packs a basic message for `to` with didcomm-node's routing (forward wrap
 * per the recipient's DID document) and POSTs the outermost forward to the mediator. Returns the inner message id.
 */
export async function sendVia(m: MediatorRef, sender: Agent, to: string, text: string): Promise<{ id: string; reply: HttpReply; packed: string }> {
  const packed = await packVia(sender, to, text);
  return { ...packed, reply: await sender.post(m.url, packed.packed) };
}

export async function packVia(sender: Agent, to: string, text: string): Promise<{ id: string; packed: string }> {
  const msg = sender.message(T.basic, { content: text }, to, { return_route: null });
  const { packed, meta } = await nodePackEncrypted(msg, to, sender.env, { from: sender.did, forward: true });
  // Really wrapped in a forward: didcomm-node used the recipient's service, and the outer JWE is not addressed to the recipient.
  expect((meta as { messaging_service?: unknown }).messaging_service).toBeDefined();
  const kids = (JSON.parse(packed) as { recipients: { header: { kid: string } }[] }).recipients.map((r) => r.header.kid.split("#")[0]);
  expect(kids.length).toBeGreaterThan(0);
  expect(kids.includes(to)).toBe(false);
  return { id: msg.id as string, packed };
}

/** Asks for a status (optionally for one recipient DID) and returns its body. */
export async function status(m: MediatorRef, r: Recipient, recipientDid?: string): Promise<Record<string, unknown>> {
  const body = recipientDid === undefined ? {} : { recipient_did: recipientDid };
  const reply = await r.control.ask(m, r.control.message(T.statusRequest, body, m.did));
  expect(reply.type).toBe(T.status);
  return bodyOf(reply);
}

export interface Delivered {
  /** The stored message id (the attachment id), for messages-received. */
  storedId: string;
  /** The inner message, unpacked by the recipient's didcomm-node agent. */
  message: Record<string, unknown>;
}

/** Opens a delivery's attachments as the recipient (didcomm-node unpack of each stored envelope). */
export async function openDelivery(r: Recipient, delivery: Record<string, unknown>): Promise<Delivered[]> {
  expect(delivery.type).toBe(T.delivery);
  const out: Delivered[] = [];
  for (const a of delivery.attachments as { id: string; data: { json?: unknown; base64?: string } }[]) {
    const envelope = a.data.json !== undefined ? JSON.stringify(a.data.json) : Buffer.from(a.data.base64!, "base64url").toString("utf8");
    out.push({ storedId: a.id, message: (await r.inbox.unpack(envelope)).message });
  }
  return out;
}

/**
 * delivery-request; returns the opened messages, or [] when the mediator answers with a status (empty queue).
 * With `underLoad`, forwards may land between the mediator's empty list and its status count, so a status
 * with a count above zero is accepted (the caller loops); otherwise the count must be exactly 0.
 */
export async function deliver(m: MediatorRef, r: Recipient, limit = 100, opts: { underLoad?: boolean } = {}): Promise<Delivered[]> {
  const reply = await r.control.ask(m, r.control.message(T.deliveryRequest, { limit }, m.did));
  if (reply.type === T.status) {
    const count = bodyOf(reply).message_count;
    if (opts.underLoad === true) expect(typeof count).toBe("number");
    else expect(count).toBe(0);
    return [];
  }
  return openDelivery(r, reply);
}

export async function received(m: MediatorRef, r: Recipient, ids: string[]): Promise<Record<string, unknown>> {
  return r.control.ask(m, r.control.message(T.messagesReceived, { message_id_list: ids }, m.did));
}

/**
 * Asserts the response carries one packed problem report with `code` (and pthid when given); returns its body.
 * The HTTP status is 200 for a reply the handler produced, or the 4xx `status` when the request itself was refused.
 */
export function expectProblem(reply: HttpReply, code: string, pthid?: string, status = 200): Record<string, unknown> {
  expect({ status: reply.status, body: reply.replies.length ? "packed" : reply.body.slice(0, 200) }).toEqual({ status, body: "packed" });
  expect(reply.replies.length).toBe(1);
  const msg = reply.replies[0]!.message;
  expect(msg.type).toBe(T.problemReport);
  expect(bodyOf(msg).code).toBe(code);
  if (pthid !== undefined) expect(msg.pthid).toBe(pthid);
  return bodyOf(msg);
}

export function contentOf(d: Delivered): string {
  return bodyOf(d.message).content as string;
}
