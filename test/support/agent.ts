// A DIDComm agent for e2e tests, built on didcomm-node (not Haven's pack/unpack): packs to the mediator, talks HTTP and WebSocket.
import type { NodeEnv, NodeUnpackResult } from "./didcomm-node.ts";
import { nodePackEncrypted, nodeUnpack } from "./didcomm-node.ts";
import { newPeer2, peer2NodeResolver, secretsOf, type Peer2Service } from "./peer2-harness.ts";

export const ENCRYPTED = "application/didcomm-encrypted+json";
const DEFAULT_REPLY_TIMEOUT_MS = 5_000;
const MAX_BODY_CHARS = 16 * 1024 * 1024;

/** Where the mediator is: base URL (http), its DID, and its WebSocket URL. */
export interface MediatorRef {
  url: string;
  did: string;
  wsUrl: string;
}

export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
  /** The packed body unpacked (return-route reply, or a problem report with a 4xx), if any. */
  replies: NodeUnpackResult[];
}

export interface MessageExtra {
  id?: string;
  to?: string[];
  thid?: string;
  pthid?: string;
  /** Default "all" (replies on the same request); pass null to omit the header. */
  return_route?: "all" | "thread" | "none" | null;
  expires_time?: number;
  attachments?: unknown[];
  [header: string]: unknown;
}

export class Agent {
  readonly did: string;
  readonly env: NodeEnv;
  readonly agreementKid: string;

  constructor(services: Peer2Service[] = []) {
    const id = newPeer2(services);
    this.did = id.did;
    this.agreementKid = id.agreementKid;
    this.env = { resolver: peer2NodeResolver, secrets: secretsOf(id.secrets) };
  }

  /** A plaintext message from this agent to `to` (default return_route "all"). */
  message(type: string, body: Record<string, unknown>, to: string, extra: MessageExtra = {}): Record<string, unknown> {
    const { return_route, ...rest } = extra;
    const msg: Record<string, unknown> = {
      id: crypto.randomUUID(),
      type,
      from: this.did,
      to: [to],
      created_time: Math.floor(Date.now() / 1000),
      body,
      ...rest,
    };
    if (return_route !== null) msg.return_route = return_route ?? "all";
    return msg;
  }

  /** Authcrypt from this agent to `to` (anon: anoncrypt, and the from header is dropped). No forward wrapping. */
  async pack(msg: Record<string, unknown>, to: string, opts: { anon?: boolean } = {}): Promise<string> {
    if (opts.anon) {
      const { from: _from, ...anonMsg } = msg;
      return (await nodePackEncrypted(anonMsg, to, this.env)).packed;
    }
    return (await nodePackEncrypted(msg, to, this.env, { from: this.did })).packed;
  }

  unpack(packed: string): Promise<NodeUnpackResult> {
    return nodeUnpack(packed, this.env);
  }

  /** POSTs a packed message (or any bytes, for negative tests) to the mediator's base URL. */
  async post(url: string, body: string | Uint8Array, contentType: string | null = ENCRYPTED, opts: { unpack?: boolean } = {}): Promise<HttpReply> {
    const headers: Record<string, string> = {};
    if (contentType !== null) headers["content-type"] = contentType;
    const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (text.length > MAX_BODY_CHARS) throw new Error("reply body too large");
    const replyType = res.headers.get("content-type") ?? "";
    const replies: NodeUnpackResult[] = [];
    // A packed reply comes with 200, or with a 4xx when the request was refused and the sender could be told why.
    if (opts.unpack !== false && text.length > 0 && replyType.startsWith(ENCRYPTED)) replies.push(await this.unpack(text));
    return { status: res.status, contentType: replyType, body: text, replies };
  }

  /** Packs `msg` to the mediator and POSTs it; the return-route reply (if any) comes back unpacked. */
  async request(m: MediatorRef, msg: Record<string, unknown>, opts: { anon?: boolean } = {}): Promise<HttpReply> {
    return this.post(m.url, await this.pack(msg, m.did, opts));
  }

  /** request() that expects exactly one reply and returns its plaintext. */
  async ask(m: MediatorRef, msg: Record<string, unknown>, opts: { anon?: boolean } = {}): Promise<Record<string, unknown>> {
    const r = await this.request(m, msg, opts);
    if (r.status !== 200 || r.replies.length !== 1) throw new Error(`expected a 200 reply, got ${r.status} ${r.body.slice(0, 300)}`);
    return r.replies[0]!.message;
  }

  /** Opens a WebSocket to the mediator; resolves once open. */
  connect(m: MediatorRef): Promise<AgentSocket> {
    return AgentSocket.open(m.wsUrl, this);
  }
}

/** A WebSocket held by an agent: queued inbound frames, awaited one at a time with a deadline. */
export class AgentSocket {
  private readonly inbox: string[] = [];
  private waiter: ((frame: string | null) => void) | undefined;
  private closedFlag = false;
  readonly closed: Promise<void>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly agent: Agent,
  ) {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.closed = promise;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (ev) => {
      const data = ev.data;
      const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
      this.push(text);
    });
    ws.addEventListener("close", () => {
      this.closedFlag = true;
      resolve();
      this.waiter?.(null);
    });
  }

  static open(url: string, agent: Agent): Promise<AgentSocket> {
    const ws = new WebSocket(url);
    const socket = new AgentSocket(ws, agent);
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(socket), { once: true });
      ws.addEventListener("error", () => reject(new Error(`WebSocket to ${url} failed`)), { once: true });
    });
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  private push(frame: string): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(frame);
    } else this.inbox.push(frame);
  }

  /** Sends a packed message as a text frame (binary: as bytes). */
  send(packed: string, binary = false): void {
    this.ws.send(binary ? new TextEncoder().encode(packed) : packed);
  }

  /** The next inbound frame, raw; rejects after timeoutMs or when the socket closes first. */
  nextRaw(timeoutMs = DEFAULT_REPLY_TIMEOUT_MS): Promise<string> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closedFlag) return Promise.reject(new Error("socket closed"));
    if (this.waiter) return Promise.reject(new Error("only one waiter at a time"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (frame) => {
        clearTimeout(timer);
        if (frame === null) reject(new Error("socket closed"));
        else resolve(frame);
      };
    });
  }

  /** The next inbound frame, unpacked by didcomm-node. */
  async next(timeoutMs = DEFAULT_REPLY_TIMEOUT_MS): Promise<Record<string, unknown>> {
    return (await this.agent.unpack(await this.nextRaw(timeoutMs))).message;
  }

  /** Number of frames received and not yet consumed. */
  pending(): number {
    return this.inbox.length;
  }

  close(): Promise<void> {
    if (!this.closedFlag) this.ws.close();
    return this.closed;
  }
}
