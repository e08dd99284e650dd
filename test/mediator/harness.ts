// Test world for the mediator core: a minted mediator, did:peer:2 agents, real packing, memory or SQLite storage.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { authenticationKeys, createPeer2, createResolver, keyAgreementKeys, resolvePeer2 } from "../../src/didcomm/did/index.ts";
import type { DidCommServiceEndpoint } from "../../src/didcomm/did/types.ts";
import { generateIdentity, mintMediatorDid } from "../../src/didcomm/identity/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, unpack, type DidcommContext, type PackEncryptedOptions, type UnpackResult } from "../../src/didcomm/pack/index.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/index.ts";
import { MailboxActor } from "../../src/mailbox/index.ts";
import { createMediatorCore, type InboundContext, type LiveSession, type MediatorCore, type ReceiveOutcome } from "../../src/mediator/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import type { OutboundEvents } from "../../src/protocols/types.ts";
import { ManualClock } from "../../src/runtime/index.ts";
import { createMemoryDriver, openSqliteDriver, type StorageDriver } from "../../src/storage/index.ts";

export type DriverKind = "memory" | "sqlite";
export const DRIVERS: DriverKind[] = ["memory", "sqlite"];

export interface Agent {
  did: string;
  ctx: DidcommContext;
}

export interface WorldOptions {
  driver: DriverKind;
  limits?: Partial<Config["limits"]>;
  mediation?: Partial<Config["mediation"]>;
  /** The outbound delivery pipeline (webhook and reply events); absent = none, as in a core without delivery. */
  outbound?: OutboundEvents;
}

export type Auth = "authcrypt" | "anoncrypt" | "signed";

export interface SendOptions {
  auth?: Auth;
  returnRoute?: "all" | "thread" | "none" | null;
  kind?: "http" | "ws";
  session?: LiveSession;
}

/** A fake WebSocket session: records frames, can be closed or made to fail sends. */
export class FakeSession implements LiveSession {
  open = true;
  readonly sent: string[] = [];
  readonly #closers: (() => void)[] = [];
  #waiters: ((p: string) => void)[] = [];
  constructor(readonly id: string) {}
  async send(packed: string): Promise<boolean> {
    if (!this.open) return false;
    this.sent.push(packed);
    for (const w of this.#waiters.splice(0)) w(packed);
    return true;
  }
  onClose(cb: () => void): void {
    this.#closers.push(cb);
  }
  close(): void {
    this.open = false;
    for (const c of this.#closers.splice(0)) c();
  }
  /** Resolves with the next frame (or the first one already sent and not yet taken). */
  nextFrame(taken: number): Promise<string> {
    const existing = this.sent[taken];
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

export class World {
  readonly clock = new ManualClock({ startMs: Date.UTC(2025, 5, 1) });
  readonly resolver = createResolver({ web: false });
  readonly logLines: string[] = [];
  readonly posted: { uri: string; packed: string }[] = [];
  readonly mediatorDid: string;
  readonly storage: StorageDriver;
  readonly mailbox: MailboxActor;
  readonly core: MediatorCore;
  readonly config: Config;
  readonly #dir: string | undefined;
  #seq = 0;

  constructor(opts: WorldOptions) {
    const base = loadConfig({});
    this.config = { ...base, limits: { ...base.limits, ...opts.limits }, mediation: { ...base.mediation, ...opts.mediation } };
    const minted = mintMediatorDid(generateIdentity(), { httpUri: "http://mediator.test", wsUri: "ws://mediator.test/ws" });
    this.mediatorDid = minted.did;
    if (opts.driver === "sqlite") {
      this.#dir = mkdtempSync(join(tmpdir(), "haven-mediator-"));
      this.storage = openSqliteDriver({ path: join(this.#dir, "haven.db"), clock: this.clock });
    } else {
      this.storage = createMemoryDriver();
    }
    const { mailboxMaxMessages: maxCount, mailboxMaxBytes: maxBytes } = this.config.limits;
    this.mailbox = new MailboxActor({ driver: this.storage, clock: this.clock, defaultQuota: { maxCount, maxBytes } });
    const logger = createLogger({ level: "debug", destination: { write: (s: string) => void this.logLines.push(s) } });
    this.core = createMediatorCore({
      mediatorDid: this.mediatorDid,
      resolver: this.resolver,
      secrets: new MemorySecrets(minted.keys),
      storage: this.storage,
      mailbox: this.mailbox,
      config: this.config,
      clock: this.clock,
      logger,
      post: async (uri, packed) => void this.posted.push({ uri, packed }),
      ...(opts.outbound !== undefined ? { outbound: opts.outbound } : {}),
    });
  }

  /** A did:peer:2 agent; `service` is its DIDCommMessaging endpoint (a URL, or the mediator DID). */
  agent(service?: DidCommServiceEndpoint): Agent {
    const x = generateJwk("X25519");
    const e = generateJwk("Ed25519");
    const did = createPeer2({ agreementKeys: [publicPart(x)], authenticationKeys: [publicPart(e)], services: service ? [service] : [] });
    const doc = resolvePeer2(did);
    const secrets = new MemorySecrets([
      { kid: keyAgreementKeys(doc)[0]!.kid, jwk: x },
      { kid: authenticationKeys(doc)[0]!.kid, jwk: e },
    ]);
    return { did, ctx: { resolver: this.resolver, secrets, now: () => this.clock.nowMs() } };
  }

  /** An agent mediated here: its service routes through the mediator DID. */
  mediatedAgent(): Agent {
    return this.agent({ uri: this.mediatorDid, accept: ["didcomm/v2"] });
  }

  message(agent: Agent | undefined, type: string, body: Record<string, unknown> = {}, extra: Partial<Message> = {}): Message {
    const msg: Message = { id: `m-${++this.#seq}-${crypto.randomUUID()}`, type, body, to: [this.mediatorDid], ...extra };
    if (agent !== undefined) msg.from = agent.did;
    return msg;
  }

  async pack(agent: Agent, msg: Message, auth: Auth = "authcrypt"): Promise<string> {
    const opts: PackEncryptedOptions = { forward: false };
    if (auth === "authcrypt") opts.from = agent.did;
    if (auth === "signed") opts.signBy = agent.did;
    return (await packEncrypted(msg, this.mediatorDid, agent.ctx, opts)).packed;
  }

  inbound(opts: SendOptions = {}): InboundContext {
    const inbound: InboundContext = { kind: opts.kind ?? "http", receivedAtMs: this.clock.nowMs(), requestId: `req-${++this.#seq}` };
    if (opts.session !== undefined) inbound.session = opts.session;
    return inbound;
  }

  receive(bytes: string | Uint8Array, opts: SendOptions = {}): Promise<ReceiveOutcome> {
    return this.core.receive(typeof bytes === "string" ? Buffer.from(bytes) : bytes, this.inbound(opts));
  }

  /** Sends `msg` from `agent` (return_route "all" unless told otherwise) and returns the outcome. */
  async send(agent: Agent, msg: Message, opts: SendOptions = {}): Promise<ReceiveOutcome> {
    const rr = opts.returnRoute === undefined ? "all" : opts.returnRoute;
    if (rr !== null) msg.return_route = rr;
    return this.receive(await this.pack(agent, msg, opts.auth), opts);
  }

  /** Sends and opens the replies with the agent's keys (asserting they come from the mediator). */
  async ask(agent: Agent, msg: Message, opts: SendOptions = {}): Promise<{ outcome: ReceiveOutcome; replies: Message[] }> {
    const outcome = await this.send(agent, msg, opts);
    return { outcome, replies: await this.open(agent, outcome.replies) };
  }

  async open(agent: Agent, packed: readonly string[]): Promise<Message[]> {
    const out: Message[] = [];
    for (const p of packed) {
      const r: UnpackResult = await unpack(p, agent.ctx);
      if (r.metadata.sender.kind !== "authcrypt" || r.metadata.sender.did !== this.mediatorDid) throw new Error("reply not authcrypted by the mediator");
      out.push(r.message);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.core.flushOutbound();
    await this.mailbox.stop();
    await this.storage.close();
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
  }
}
