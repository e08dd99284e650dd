// Replies leaving the mediator: packed authcrypt for the return route, or POSTed to the sender's endpoint.
import type { Message } from "../didcomm/message/types.ts";
import { packEncrypted } from "../didcomm/pack/encrypted.ts";
import type { DidcommContext } from "../didcomm/pack/types.ts";
import type { Logger } from "../observability/logger.ts";
import type { OutboundEvents } from "../protocols/types.ts";
import type { PostMessage } from "./types.ts";

export const ENCRYPTED_CONTENT_TYPE = "application/didcomm-encrypted+json";

/** Default POST: fetch with an abort timeout; any non-2xx is a failure. */
export const fetchPost: PostMessage = async (uri, packed, timeoutMs) => {
  const res = await fetch(uri, {
    method: "POST",
    headers: { "content-type": ENCRYPTED_CONTENT_TYPE },
    body: packed,
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "error",
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`endpoint answered ${res.status}`);
};

export interface OutboundOptions {
  mediatorDid: string;
  didcomm: DidcommContext;
  logger: Logger;
  post: PostMessage;
  timeoutMs: number;
  maxInFlight: number;
  /** The delivery pipeline: replies are queued as durable "reply" events instead of POSTed here. */
  events?: OutboundEvents | null;
}

export class Outbound {
  readonly #o: OutboundOptions;
  readonly #pending = new Set<Promise<void>>();

  constructor(o: OutboundOptions) {
    this.#o = o;
  }

  /** Authcrypt from the mediator to `toDid`, no forward wrapping: it goes back on the caller's connection. */
  async packDirect(msg: Message, toDid: string): Promise<string> {
    return (await packEncrypted(msg, toDid, this.#o.didcomm, { from: this.#o.mediatorDid, forward: false })).packed;
  }

  /** Packs each reply for the return route; a reply that cannot be packed is logged and left out. */
  async packAll(replies: readonly Message[], toDid: string, requestId: string): Promise<string[]> {
    const out: string[] = [];
    for (const r of replies) {
      try {
        out.push(await this.packDirect(r, toDid));
      } catch (e) {
        this.#o.logger.warn({ requestId, err: errorName(e) }, "reply could not be packed");
      }
    }
    return out;
  }

  /**
   * Sends replies to the recipient's DIDComm HTTP endpoint (wrapped in forwards for its mediators). With the
   * delivery pipeline, resolves once each is queued durably (retries, breaker, DLQ are the pipeline's); a reply
   * that cannot be packed or queued is logged. Without it, best effort in the background (resolves at once).
   */
  async postAll(replies: readonly Message[], toDid: string, requestId: string): Promise<void> {
    const events = this.#o.events;
    if (events != null) {
      for (const r of replies) await this.#queueOne(events, r, toDid, requestId);
      return;
    }
    for (const r of replies) {
      if (this.#pending.size >= this.#o.maxInFlight) {
        this.#o.logger.warn({ requestId }, "outbound reply dropped: too many in flight");
        return;
      }
      const p = this.#postOne(r, toDid, requestId).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  async #queueOne(events: OutboundEvents, r: Message, toDid: string, requestId: string): Promise<void> {
    try {
      const packed = await packEncrypted(r, toDid, this.#o.didcomm, { from: this.#o.mediatorDid });
      const uri = packed.service?.uri;
      if (uri === undefined || !/^https?:\/\//i.test(uri)) {
        this.#o.logger.debug({ requestId }, "no HTTP endpoint for reply; dropped");
        return;
      }
      // The reply's message id makes the event id: queueing the same reply twice sends it once.
      await events.reply({ id: `reply:${r.id}`, toDid, url: uri, body: new TextEncoder().encode(packed.packed), contentType: ENCRYPTED_CONTENT_TYPE });
    } catch (e) {
      this.#o.logger.warn({ requestId, err: errorName(e) }, "outbound reply could not be queued");
    }
  }

  /** Resolves when every background POST started so far has finished (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #postOne(r: Message, toDid: string, requestId: string): Promise<void> {
    try {
      const packed = await packEncrypted(r, toDid, this.#o.didcomm, { from: this.#o.mediatorDid });
      const uri = packed.service?.uri;
      if (uri === undefined || !/^https?:\/\//i.test(uri)) {
        this.#o.logger.debug({ requestId }, "no HTTP endpoint for reply; dropped");
        return;
      }
      await this.#o.post(uri, packed.packed, this.#o.timeoutMs);
    } catch (e) {
      this.#o.logger.info({ requestId, err: errorName(e) }, "outbound reply failed");
    }
  }
}

/** Error identity for logs: name and stable code only, never a message that might echo input. */
export function errorName(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" ? `${e.name}:${code}` : e.name;
  }
  return typeof e;
}
