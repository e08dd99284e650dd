// One WebSocket connection: frames are handed to the core in order, replies go back on the same socket,
// and the connection is the LiveSession the core uses for live delivery.
import type { ServerWebSocket } from "bun";
import type { Logger } from "../observability/logger.ts";
import type { Clock } from "../runtime/clock.ts";
import type { LiveSession, MessageReceiver } from "./contract.ts";
import type { InFlight } from "./inflight.ts";
import type { TokenBucket } from "./rate-limit.ts";

/** Close codes (RFC 6455 / IANA registry). */
export const WS_CLOSE = { GoingAway: 1001, PolicyViolation: 1008, TryAgainLater: 1013 } as const;

export interface WsConnectionDeps {
  id: string;
  core: MessageReceiver;
  clock: Clock;
  logger: Logger;
  inFlight: InFlight;
  bucket: TokenBucket;
  /** Frames waiting behind the one being processed before the socket is closed as too busy. */
  maxQueuedFrames: number;
  /** True once the node is shutting down: new frames are refused by closing the socket. */
  isStopping: () => boolean;
  /** Called once when the socket closes (deregistration). */
  onClosed: (conn: WsConnection) => void;
}

export interface WsHandlers {
  open(ws: ServerWebSocket<unknown>): void;
  message(ws: ServerWebSocket<unknown>, data: string | Uint8Array): void;
  close(ws: ServerWebSocket<unknown>, code: number): void;
}

interface Frame {
  bytes: Uint8Array;
  binary: boolean;
}

/** Bound on close callbacks per session: the core registers a few, never thousands. */
const MAX_CLOSE_CALLBACKS = 1000;

const encoder = new TextEncoder();

/**
 * Frames are processed one at a time (a FIFO per socket) so a client sees replies in the order of its
 * requests, e.g. live-delivery-change before the status-request that follows it.
 */
export class WsConnection implements LiveSession {
  readonly id: string;
  readonly #deps: WsConnectionDeps;
  #ws: ServerWebSocket<unknown> | undefined;
  #closed = false;
  /** Replies and live deliveries use the frame kind the client last sent. */
  #binary = false;
  #seq = 0;
  readonly #queue: Frame[] = [];
  #pumping = false;
  #closeCallbacks: (() => void)[] = [];

  constructor(deps: WsConnectionDeps) {
    this.id = deps.id;
    this.#deps = deps;
  }

  get open(): boolean {
    return this.#ws !== undefined && !this.#closed && this.#ws.readyState === 1;
  }

  /** False when the socket is gone or Bun dropped/back-pressured the frame: the message was not delivered. */
  async send(packed: string): Promise<boolean> {
    return this.#sendNow(packed, this.#binary);
  }

  onClose(cb: () => void): void {
    if (this.#closed) {
      queueMicrotask(() => this.#runCallback(cb));
      return;
    }
    if (this.#closeCallbacks.length >= MAX_CLOSE_CALLBACKS) throw new Error("invariant: too many onClose callbacks on one session");
    this.#closeCallbacks.push(cb);
  }

  /** Closes the socket (server side); the close handler then runs the callbacks. */
  close(code: number, reason: string): void {
    try {
      this.#ws?.close(code, reason);
    } catch {
      // already closed
    }
  }

  // ---- Bun websocket handlers (dispatched through ws.data) ----

  readonly #onOpen = (ws: ServerWebSocket<unknown>): void => {
    this.#ws = ws;
  };

  readonly #onMessage = (ws: ServerWebSocket<unknown>, data: string | Uint8Array): void => {
    this.#ws ??= ws;
    if (this.#closed) return;
    if (this.#deps.isStopping()) {
      this.close(WS_CLOSE.GoingAway, "server shutting down");
      return;
    }
    const waitMs = this.#deps.bucket.take(this.#deps.clock.monotonicMs());
    if (waitMs > 0) {
      this.#deps.logger.debug({ session: this.id }, "websocket rate limit exceeded; closing");
      this.close(WS_CLOSE.PolicyViolation, "rate limit exceeded");
      return;
    }
    if (this.#queue.length >= this.#deps.maxQueuedFrames) {
      this.#deps.logger.debug({ session: this.id }, "websocket frame queue full; closing");
      this.close(WS_CLOSE.TryAgainLater, "too many frames in flight");
      return;
    }
    const binary = typeof data !== "string";
    this.#queue.push({ bytes: binary ? data : encoder.encode(data), binary });
    if (!this.#pumping) void this.#pump();
  };

  readonly #onClose = (_ws: ServerWebSocket<unknown>, code: number): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0; // frames not yet started are dropped: the client saw no reply for them
    this.#deps.logger.debug({ session: this.id, code }, "websocket closed");
    const callbacks = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (const cb of callbacks) this.#runCallback(cb);
    this.#deps.onClosed(this);
  };

  /** The object handed to server.upgrade as `data` (Elysia's websocket dispatcher calls these). */
  handlers(): WsHandlers {
    return { open: this.#onOpen, message: this.#onMessage, close: this.#onClose };
  }

  #runCallback(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      this.#deps.logger.warn({ session: this.id, err: err instanceof Error ? err.name : "unknown" }, "session onClose callback threw");
    }
  }

  #sendNow(packed: string, binary: boolean): boolean {
    const ws = this.#ws;
    if (ws === undefined || this.#closed || ws.readyState !== 1) return false;
    try {
      const status = binary ? ws.sendBinary(encoder.encode(packed)) : ws.sendText(packed);
      // >0 bytes written; -1 enqueued under backpressure; 0 dropped. Only a direct write counts as sent.
      return status > 0;
    } catch {
      return false;
    }
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      for (let frame = this.#queue.shift(); frame !== undefined && !this.#closed; frame = this.#queue.shift()) {
        await this.#process(frame);
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #process(frame: Frame): Promise<void> {
    this.#binary = frame.binary;
    const requestId = `${this.id}.${++this.#seq}`;
    const { core, inFlight, logger, clock } = this.#deps;
    inFlight.enter();
    try {
      const outcome = await core.receive(frame.bytes, { kind: "ws", session: this, receivedAtMs: clock.nowMs(), requestId });
      if (outcome.kind === "rejected") logger.debug({ requestId, code: outcome.code, status: outcome.httpStatus }, "websocket frame rejected");
      for (const reply of outcome.replies) {
        if (!this.#sendNow(reply, frame.binary)) {
          logger.debug({ requestId }, "websocket reply not sent (socket closed or back-pressured)");
        }
      }
    } catch (err) {
      // The core should never throw; if it does, the frame is lost to this client but the socket lives.
      logger.error({ requestId, err: err instanceof Error ? err.name : "unknown" }, "core.receive threw on a websocket frame");
    } finally {
      inFlight.leave();
    }
  }
}
