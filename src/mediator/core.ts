// MediatorCore: bytes in -> unpack, replay guard, dispatch, pack replies -> outcome. Never throws.
import { FORWARD_TYPE } from "../didcomm/message/forward.ts";
import type { Message } from "../didcomm/message/types.ts";
import { unpack } from "../didcomm/pack/unpack.ts";
import type { UnpackResult } from "../didcomm/pack/types.ts";
import type { DidcommContext, SenderAuth } from "../didcomm/pack/types.ts";
import { Problems, ProtocolError, toProtocolError } from "../protocols/errors.ts";
import { LiveRegistry } from "../protocols/live.ts";
import { buildProblemReport } from "../protocols/problem-report.ts";
import { createDefaultRouter, type ProtocolRouter } from "../protocols/registry.ts";
import { replyTargetOf } from "../protocols/reply.ts";
import type { HandlerContext, ProtocolServices } from "../protocols/types.ts";
import { TYPES } from "../protocols/uris.ts";
import { claimedSender, unpackProblem } from "./envelope-errors.ts";
import { recordReceive, type ReceiveSeen } from "./metrics.ts";
import { errorName, fetchPost, Outbound } from "./outbound.ts";
import type { InboundContext, MediatorCoreDeps, ReceiveOutcome } from "./types.ts";
import { inSpan, tracingEnabled } from "../observability/tracing.ts";

function bounded(value: number | undefined, dflt: number, min: number, max: number, name: string): number {
  const v = value ?? dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

/** `{1}`-style interpolation of a problem's static comment (missing args become "?"). */
function describe(err: ProtocolError): string {
  return err.problem.comment.replace(/\{(\d)\}/g, (_, i: string) => err.args[Number(i) - 1] ?? "?");
}

export class MediatorCore {
  readonly mediatorDid: string;
  readonly live: LiveRegistry;
  readonly #d: MediatorCoreDeps;
  readonly #didcomm: DidcommContext;
  readonly #unpack: (bytes: Uint8Array) => Promise<UnpackResult>;
  readonly #router: ProtocolRouter;
  readonly #outbound: Outbound;
  readonly #services: ProtocolServices;
  /** WebSocket sessions that asked for return_route once: it holds for the connection (spec). */
  readonly #returnRouteSessions = new Set<string>();

  constructor(deps: MediatorCoreDeps) {
    this.#d = deps;
    this.mediatorDid = deps.mediatorDid;
    this.#didcomm = {
      resolver: deps.resolver,
      secrets: deps.secrets,
      maxEnvelopeBytes: deps.config.limits.maxMessageBytes,
      now: () => deps.clock.nowMs(),
    };
    const pool = deps.unpackPool;
    this.#unpack = pool === undefined ? (b) => unpack(b, this.#didcomm) : (b) => pool.unpack(b);
    this.#router = deps.router ?? createDefaultRouter();
    const logger = deps.logger.child({ module: "mediator" });
    this.#outbound = new Outbound({
      mediatorDid: deps.mediatorDid,
      didcomm: this.#didcomm,
      logger,
      post: deps.post ?? fetchPost,
      timeoutMs: bounded(deps.outboundTimeoutMs, 5000, 100, 60_000, "outboundTimeoutMs"),
      maxInFlight: bounded(deps.maxOutboundInFlight, 256, 1, 100_000, "maxOutboundInFlight"),
      events: deps.outbound ?? null,
    });
    this.live = new LiveRegistry(deps.mailbox, (msg, to) => this.#outbound.packDirect(msg, to), logger);
    this.#services = {
      mailbox: deps.mailbox,
      storage: deps.storage,
      config: deps.config,
      clock: deps.clock,
      logger,
      live: this.live,
      webhooks: deps.webhooks ?? null,
      outbound: deps.outbound ?? null,
    };
  }

  /** Handles one inbound envelope. Never throws: bad input is a rejected outcome or a problem report. */
  async receive(bytes: Uint8Array, inbound: InboundContext): Promise<ReceiveOutcome> {
    const startedAtMs = performance.now();
    const seen: ReceiveSeen = { type: undefined };
    let outcome: ReceiveOutcome;
    try {
      outcome = await this.#receive(bytes, inbound, seen);
    } catch (e) {
      this.#services.logger.error({ requestId: inbound?.requestId, err: errorName(e) }, "unexpected error in receive");
      outcome = { kind: "rejected", httpStatus: 503, code: Problems.internal.reason, reason: Problems.internal.comment, replies: [] };
    }
    if (this.#d.metrics !== undefined) recordReceive(this.#d.metrics, seen, outcome, startedAtMs);
    return outcome;
  }

  /** Waits for background reply POSTs (tests and graceful shutdown). */
  flushOutbound(): Promise<void> {
    return this.#outbound.flush();
  }

  async #receive(bytes: Uint8Array, inbound: InboundContext, seen: ReceiveSeen): Promise<ReceiveOutcome> {
    if (!(bytes instanceof Uint8Array)) return this.#reject(new ProtocolError(Problems.malformedEnvelope), []);
    const maxBytes = this.#d.config.limits.maxMessageBytes;
    if (bytes.byteLength > maxBytes) {
      return this.#reject(new ProtocolError({ ...Problems.invalidMessage, httpStatus: 413, reason: "too_large" }, ["the envelope is too large"]), []);
    }
    let message: Message;
    let sender: SenderAuth;
    try {
      const endUnpack = this.#d.metrics?.startStage("unpack");
      const r = await (tracingEnabled() ? inSpan("unpack", () => this.#unpack(bytes)) : this.#unpack(bytes));
      endUnpack?.();
      message = r.message;
      seen.type = message.type;
      sender = r.metadata.sender;
    } catch (e) {
      return this.#envelopeFailed(e, bytes, inbound);
    }
    const ctx = this.#handlerContext(message, sender, inbound);
    const isForward = message.type === FORWARD_TYPE;
    // Forwards and anonymous messages need no replay check: no promise to wait for on the ingest path.
    const checked = this.#precheck(message, sender, isForward);
    const pre = checked instanceof Promise ? await checked : checked;
    const result = pre === undefined ? await this.#router.dispatch(message, ctx) : { replies: [buildProblemReport(pre, ctx, message)], error: pre };
    const error = result.error;
    // Never answer a problem report with one: two parties could bounce reports forever.
    const replies = message.type === TYPES.problemReport ? [] : result.replies;
    if (error !== undefined) this.#logProblem(error, inbound, message.type);
    const packed = replies.length === 0 ? [] : await this.#deliverReplies(replies, message, ctx, inbound);
    // A forward is accepted only once stored; a problem nobody can be told of becomes a rejection.
    if (error !== undefined && (isForward || ctx.replyTo === undefined)) return this.#reject(error, packed);
    return { kind: "accepted", replies: packed };
  }

  #handlerContext(message: Message, sender: SenderAuth, inbound: InboundContext): HandlerContext {
    const transport: HandlerContext["transport"] = { kind: inbound.kind };
    if (inbound.session !== undefined) transport.session = inbound.session;
    return {
      sender,
      replyTo: replyTargetOf(message, sender),
      mediatorDid: this.mediatorDid,
      transport,
      services: this.#services,
      receivedAtMs: inbound.receivedAtMs,
    };
  }

  /** Expiry, then replay protection for authenticated senders (forwards are deduplicated instead). Synchronous unless the replay guard is asked. */
  #precheck(message: Message, sender: SenderAuth, isForward: boolean): ProtocolError | undefined | Promise<ProtocolError | undefined> {
    if (message.expires_time !== undefined && message.expires_time * 1000 <= this.#d.clock.nowMs()) return new ProtocolError(Problems.expired);
    if (sender.kind === "anonymous" || isForward) return undefined;
    const windowMs = this.#d.config.limits.replayWindowSeconds * 1000;
    const nowMs = this.#d.clock.nowMs();
    // Ids are remembered for the window only: a message created before it could be a replay we can no longer see.
    if (message.created_time !== undefined && message.created_time * 1000 < nowMs - windowMs) return new ProtocolError(Problems.tooOld);
    return this.#replayCheck(sender.did, message.id, nowMs, windowMs);
  }

  async #replayCheck(senderDid: string, messageId: string, nowMs: number, windowMs: number): Promise<ProtocolError | undefined> {
    try {
      const fresh = await this.#d.storage.replay.checkAndRecord(senderDid, messageId, nowMs, windowMs);
      return fresh ? undefined : new ProtocolError(Problems.replay);
    } catch (e) {
      return toProtocolError(e);
    }
  }

  /** Return route: packed into the outcome. Otherwise POSTed to an authenticated sender's endpoint. */
  async #deliverReplies(replies: Message[], message: Message, ctx: HandlerContext, inbound: InboundContext): Promise<string[]> {
    const to = ctx.replyTo;
    if (replies.length === 0 || to === undefined) return [];
    if (this.#wantsReturnRoute(message, inbound)) return this.#outbound.packAll(replies, to, inbound.requestId);
    // Never POST to an unauthenticated claim: that would make the mediator a reflector.
    // With the delivery pipeline this resolves once the replies are queued durably (before the 202).
    if (ctx.sender.kind !== "anonymous") await this.#outbound.postAll(replies, to, inbound.requestId);
    return [];
  }

  #wantsReturnRoute(message: Message, inbound: InboundContext): boolean {
    const rr = message.return_route;
    const session = inbound.kind === "ws" ? inbound.session : undefined;
    if (session !== undefined && rr !== undefined) {
      if (rr === "none") this.#returnRouteSessions.delete(session.id);
      else if (!this.#returnRouteSessions.has(session.id)) {
        this.#returnRouteSessions.add(session.id);
        session.onClose(() => this.#returnRouteSessions.delete(session.id));
      }
    }
    // "thread" is honoured on HTTP too: the reply is in the request's own thread.
    if (rr === "all" || rr === "thread") return true;
    return session !== undefined && this.#returnRouteSessions.has(session.id);
  }

  /** An envelope we could not open: rejected, plus a report on the connection when it names a sender. */
  async #envelopeFailed(e: unknown, bytes: Uint8Array, inbound: InboundContext): Promise<ReceiveOutcome> {
    const err = unpackProblem(e);
    this.#logProblem(err, inbound, undefined);
    const to = err.problem.httpStatus === 400 ? claimedSender(bytes) : undefined;
    if (to === undefined) return this.#reject(err, []);
    const ctx: HandlerContext = { ...this.#handlerContext({ id: "", type: "", body: {} }, { kind: "anonymous" }, inbound), replyTo: to };
    const packed = await this.#outbound.packAll([buildProblemReport(err, ctx)], to, inbound.requestId);
    return this.#reject(err, packed);
  }

  #reject(err: ProtocolError, replies: string[]): ReceiveOutcome {
    return { kind: "rejected", httpStatus: err.problem.httpStatus, code: err.problem.reason, reason: describe(err), replies };
  }

  #logProblem(err: ProtocolError, inbound: InboundContext, type: string | undefined): void {
    const fields = { requestId: inbound.requestId, problem: err.problem.code, type: type?.slice(0, 128), cause: err.cause === undefined ? undefined : errorName(err.cause) };
    if (err.problem === Problems.internal) this.#services.logger.error(fields, "internal error handling message");
    else this.#services.logger.debug(fields, "message refused");
  }
}

export function createMediatorCore(deps: MediatorCoreDeps): MediatorCore {
  return new MediatorCore(deps);
}
