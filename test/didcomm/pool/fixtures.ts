// Shared world for the unpack pool tests: a mediator, senders, envelopes from Haven and didcomm-node, and an equality check.
import { expect } from "bun:test";
import type { ContentEnc } from "../../../src/didcomm/crypto/content.ts";
import { isDidcommError } from "../../../src/didcomm/errors.ts";
import type { Message } from "../../../src/didcomm/message/types.ts";
import { packEncrypted, packPlaintext, packSigned, unpack } from "../../../src/didcomm/pack/index.ts";
import type { DidcommContext, UnpackResult } from "../../../src/didcomm/pack/types.ts";
import type { UnpackPool } from "../../../src/didcomm/pool/index.ts";
import { nodeEnv, nodePackEncrypted } from "../../support/didcomm-node.ts";
import { DocResolver, KeySecrets, makeParty } from "../../support/world.ts";

export const ENCS: ContentEnc[] = ["A256CBC-HS512", "A256GCM", "XC20P"];
const M_URI = "https://mediator.example/didcomm";

/** The mediator holds an X25519 and a P-256 agreement key; bob routes through its X25519 key, carol through P-256. */
export const mediator = makeParty("mediator", { x25519: 1, p256: 1, service: { uri: M_URI } });
export const alice = makeParty("alice");
export const bob = makeParty("bob", { service: { uri: M_URI, routingKeys: [mediator.agreement[0]!] } });
export const carol = makeParty("carol", { x25519: 0, p256: 1, service: { uri: M_URI, routingKeys: [mediator.agreement[1]!] } });
export const resolver = new DocResolver([mediator.doc, alice.doc, bob.doc, carol.doc]);

/** The mediator's main-thread context (what MediatorCore passes to unpack). */
export function mediatorCtx(maxEnvelopeBytes?: number): DidcommContext {
  const ctx: DidcommContext = { resolver, secrets: new KeySecrets(mediator.keys) };
  if (maxEnvelopeBytes !== undefined) ctx.maxEnvelopeBytes = maxEnvelopeBytes;
  return ctx;
}
const senderCtx = (keys = alice.keys): DidcommContext => ({ resolver, secrets: new KeySecrets(keys) });

let n = 0;
export function sampleMessage(to: string, from?: string, text = "héllo ✓ 🌍"): Message {
  const msg: Message = {
    id: `pool-${++n}`,
    type: "https://didcomm.org/basicmessage/2.0/message",
    to: [to],
    created_time: 1_700_000_000,
    body: { content: text, nested: { a: [1, 2.5, { b: null }], t: true } },
    attachments: [{ id: "a1", media_type: "application/json", data: { json: { k: "v" } } }],
  };
  if (from !== undefined) msg.from = from;
  return msg;
}

export interface Envelope {
  name: string;
  packed: string;
  /** Whether a worker can answer it alone (anoncrypt / plaintext, no DID resolution). */
  workerOnly: boolean;
  /** Where the pool should run it when not worker-only: sniffed as authcrypt, or sent back by the worker. */
  inThread?: "authcrypt" | "resolver";
}

/** Real envelopes a mediator receives: forwards (anoncrypt, by Haven and by didcomm-node) and direct messages. */
export async function realEnvelopes(): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (const enc of ENCS) {
    for (const [who, to] of [["bob", bob], ["carol", carol]] as const) {
      const anon = await packEncrypted(sampleMessage(to.did), to.did, senderCtx(), { enc });
      out.push({ name: `Haven forward to ${who} (anoncrypt inner, ${enc})`, packed: anon.packed, workerOnly: true });
    }
  }
  const auth = await packEncrypted(sampleMessage(bob.did, alice.did), bob.did, senderCtx(), { from: alice.did });
  out.push({ name: "Haven forward to bob (authcrypt inner)", packed: auth.packed, workerOnly: true });
  const nodeFwd = await nodePackEncrypted(sampleMessage(bob.did, alice.did), bob.did, nodeEnv(resolver, new KeySecrets(alice.keys)), { from: alice.did, forward: true });
  out.push({ name: "didcomm-node forward to bob (authcrypt inner)", packed: nodeFwd.packed, workerOnly: true });
  const nodeAnon = await nodePackEncrypted(sampleMessage(carol.did), carol.did, nodeEnv(resolver, new KeySecrets([])), { forward: true });
  out.push({ name: "didcomm-node forward to carol (anoncrypt inner)", packed: nodeAnon.packed, workerOnly: true });
  // Direct messages to the mediator: anoncrypt alone needs no resolver; the rest do.
  const direct = sampleMessage(mediator.did, alice.did);
  out.push({ name: "anoncrypt to mediator", packed: (await packEncrypted(sampleMessage(mediator.did), mediator.did, senderCtx(), { forward: false })).packed, workerOnly: true });
  out.push({ name: "plaintext to mediator", packed: packPlaintext(direct), workerOnly: true });
  out.push({ name: "authcrypt to mediator", packed: (await packEncrypted(direct, mediator.did, senderCtx(), { from: alice.did, forward: false })).packed, workerOnly: false, inThread: "authcrypt" });
  const nodeAuth = await nodePackEncrypted(direct, mediator.did, nodeEnv(resolver, new KeySecrets(alice.keys)), { from: alice.did, forward: false });
  out.push({ name: "didcomm-node authcrypt to mediator", packed: nodeAuth.packed, workerOnly: false, inThread: "authcrypt" });
  out.push({ name: "protect-sender to mediator", packed: (await packEncrypted(direct, mediator.did, senderCtx(), { from: alice.did, protectSender: true, forward: false })).packed, workerOnly: false, inThread: "resolver" });
  out.push({ name: "signed to mediator", packed: await packSigned(direct, alice.did, senderCtx()), workerOnly: false, inThread: "resolver" });
  return out;
}

export type Outcome = { ok: true; result: UnpackResult } | { ok: false; code: string; name: string };

export async function outcomeOf(p: Promise<UnpackResult>): Promise<Outcome> {
  try {
    return { ok: true, result: await p };
  } catch (e) {
    if (!isDidcommError(e)) throw new Error(`unpack threw a non-DidcommError: ${String(e)}`);
    return { ok: false, code: e.code, name: e.name };
  }
}

/** The pool's answer must equal the in-thread unpack's: the same result, or the same typed error code. */
export async function expectSameAsInThread(pool: UnpackPool, ctx: DidcommContext, packed: string | Uint8Array, label: string): Promise<Outcome> {
  const [viaPool, inThread] = await Promise.all([outcomeOf(pool.unpack(packed)), outcomeOf(unpack(packed, ctx))]);
  if (!inThread.ok || !viaPool.ok) {
    expect({ label, outcome: viaPool.ok ? "ok" : viaPool.code }).toEqual({ label, outcome: inThread.ok ? "ok" : inThread.code });
  } else {
    expect(viaPool.result).toStrictEqual(inThread.result);
  }
  return inThread;
}

/** Polls `cond` until true or the deadline (no fixed sleeps). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}
