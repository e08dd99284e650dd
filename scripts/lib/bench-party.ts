// Benchmark clients built on Haven's own pack/unpack (fast envelope generation): mediated parties and forward envelopes.
import { createPeer2, createResolver } from "../../src/didcomm/did/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart, type KeyRef, type PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, unpack, type DidcommContext } from "../../src/didcomm/pack/index.ts";
import type { SecretsResolver } from "../../src/didcomm/secrets/types.ts";

const ORG = "https://didcomm.org";
export const BT = {
  mediateRequest: `${ORG}/coordinate-mediation/2.0/mediate-request`,
  keylistUpdate: `${ORG}/coordinate-mediation/2.0/keylist-update`,
  statusRequest: `${ORG}/messagepickup/3.0/status-request`,
  deliveryRequest: `${ORG}/messagepickup/3.0/delivery-request`,
  delivery: `${ORG}/messagepickup/3.0/delivery`,
  messagesReceived: `${ORG}/messagepickup/3.0/messages-received`,
  status: `${ORG}/messagepickup/3.0/status`,
} as const;
const ENCRYPTED = "application/didcomm-encrypted+json";
const REQUEST_TIMEOUT_MS = 30_000;

/** Secrets of many parties in one map (Haven's MemorySecrets is bounded at 10k keys, a bench has more). */
class MapSecrets implements SecretsResolver {
  readonly keys = new Map<string, KeyRef<PrivateJwk>>();
  get(kid: string) {
    return this.keys.get(kid);
  }
  has(kids: readonly string[]) {
    return kids.filter((k) => this.keys.has(k));
  }
}

/** Everything the bench's parties share: one resolver (cached), one secrets map, the mediator. */
export class BenchWorld {
  readonly secrets = new MapSecrets();
  readonly ctx: DidcommContext;
  constructor(
    readonly mediatorUrl: string,
    readonly mediatorDid: string,
  ) {
    this.ctx = { resolver: createResolver({ web: false, cache: { maxEntries: 50_000 } }), secrets: this.secrets, maxEnvelopeBytes: 64 * 1024 * 1024 };
  }

  /** A did:peer:2 party whose DIDComm service routes through the mediator (so forwards are addressed to it). */
  party(): BenchParty {
    const auth = generateJwk("Ed25519");
    const agree = generateJwk("X25519");
    const did = createPeer2({
      authenticationKeys: [publicPart(auth)],
      agreementKeys: [publicPart(agree)],
      services: [{ uri: this.mediatorDid, accept: ["didcomm/v2"] }],
    });
    this.secrets.keys.set(`${did}#key-1`, { kid: `${did}#key-1`, jwk: auth });
    this.secrets.keys.set(`${did}#key-2`, { kid: `${did}#key-2`, jwk: agree });
    return new BenchParty(this, did);
  }

  /** A distinct forward envelope for `to` (anoncrypt inner message, wrapped in a forward to the mediator). */
  async forwardFor(to: string, text: string): Promise<string> {
    const msg: Message = { id: crypto.randomUUID(), type: "https://didcomm.org/basicmessage/2.0/message", to: [to], body: { content: text } };
    return (await packEncrypted(msg, to, this.ctx)).packed;
  }
}

/** Where a party's round trips spend their time (client-side pack + unpack vs waiting for the node). */
export interface AskTimings {
  packMs: number;
  httpMs: number;
  unpackMs: number;
}

export class BenchParty {
  readonly timings: AskTimings = { packMs: 0, httpMs: 0, unpackMs: 0 };
  constructor(
    readonly world: BenchWorld,
    readonly did: string,
  ) {}

  /** Authcrypt request to the mediator with return_route "all"; the reply, unpacked. */
  async ask(type: string, body: Record<string, unknown>): Promise<Message> {
    const w = this.world;
    const msg: Message = { id: crypto.randomUUID(), type, from: this.did, to: [w.mediatorDid], body, return_route: "all" };
    const t0 = performance.now();
    const { packed } = await packEncrypted(msg, w.mediatorDid, w.ctx, { from: this.did, forward: false });
    const t1 = performance.now();
    const res = await fetch(w.mediatorUrl, {
      method: "POST",
      headers: { "content-type": ENCRYPTED },
      body: packed,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${type}: HTTP ${res.status} ${text.slice(0, 200)}`);
    const t2 = performance.now();
    const { message } = await unpack(text, w.ctx, { message: { maxAttachments: 10_000 } });
    this.timings.packMs += t1 - t0;
    this.timings.httpMs += t2 - t1;
    this.timings.unpackMs += performance.now() - t2;
    return message;
  }

  /** mediate-request, then its own DID as the keylist's recipient (the mailbox is this party's). */
  async enrol(): Promise<void> {
    await this.ask(BT.mediateRequest, {});
    const r = await this.ask(BT.keylistUpdate, { updates: [{ recipient_did: this.did, action: "add" }] });
    const updated = r.body.updated as { result: string }[] | undefined;
    if (updated?.[0]?.result !== "success") throw new Error(`keylist-update failed: ${JSON.stringify(r.body).slice(0, 200)}`);
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight; rejects on the first failure. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** POSTs pre-generated envelopes; returns how many got 202. */
export async function postAll(url: string, bodies: readonly string[], concurrency: number): Promise<number> {
  let accepted = 0;
  await pool(bodies.length, concurrency, async (i) => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": ENCRYPTED }, body: bodies[i]!, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await res.arrayBuffer();
    if (res.status === 202) accepted++;
    else throw new Error(`forward ${i}: HTTP ${res.status}`);
  });
  return accepted;
}
