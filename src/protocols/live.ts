// Live mode (Message Pickup 3.0): per WebSocket session and mailbox, push new messages as deliveries.
import type { Message } from "../didcomm/message/types.ts";
import type { MailboxPort } from "../mailbox/port.ts";
import type { Logger } from "../observability/logger.ts";
import type { StoredMessage } from "../storage/types.ts";
import { deliveryMessage } from "./pickup-messages.ts";
import type { HandlerContext, LiveSession } from "./types.ts";

/** Packs a plaintext message for `toDid` (authcrypt from the mediator, no forward wrapping). */
export type PackForClient = (msg: Message, toDid: string) => Promise<string>;

/**
 * Which (session, mailbox) pairs are live. A live message stays stored until messages-received:
 * the listener only reports whether the frame reached an open socket (false drops the listener,
 * so a dead socket never counts as delivered and live mode ends with it).
 */
export class LiveRegistry {
  /** session id -> mailbox -> unsubscribe. */
  readonly #live = new Map<string, Map<string, () => void>>();
  readonly #mailbox: MailboxPort;
  readonly #pack: PackForClient;
  readonly #logger: Logger;

  constructor(mailbox: MailboxPort, pack: PackForClient, logger: Logger) {
    this.#mailbox = mailbox;
    this.#pack = pack;
    this.#logger = logger;
  }

  isLive(sessionId: string | undefined, mailbox: string): boolean {
    return sessionId !== undefined && this.#live.get(sessionId)?.has(mailbox) === true;
  }

  /** Live (session, mailbox) pairs. */
  get size(): number {
    let n = 0;
    for (const m of this.#live.values()) n += m.size;
    return n;
  }

  /** Turns live mode on for `mailbox` on `session`; `ctx` supplies the delivery's addressing and thread. */
  async enable(session: LiveSession, mailbox: string, ctx: HandlerContext, thid: string): Promise<void> {
    if (this.isLive(session.id, mailbox)) return;
    let chain: Promise<unknown> = Promise.resolve();
    const listener = (stored: StoredMessage): Promise<boolean> => {
      // Packing is async: chain the sends so the socket sees deliveries in arrival order.
      const sent = chain.then(async () => {
        if (!session.open) return false;
        return session.send(await this.#pack(deliveryMessage(ctx, [stored], { thid }), mailbox));
      });
      chain = sent.catch(() => undefined);
      return sent;
    };
    let closed = false;
    let entry: (() => void) | undefined;
    const unsubscribe = await this.#mailbox.subscribe(mailbox, listener, {
      onClosed: (reason) => {
        closed = true;
        if (reason !== "unsubscribed") this.#logger.debug({ session: session.id, reason }, "live delivery stopped");
        if (entry !== undefined) this.#forget(session.id, mailbox, entry);
      },
    });
    if (closed) return; // dropped before we got here (a failed send): live mode is already over
    if (!session.open) {
      unsubscribe(); // closed while subscribing: its onClose may already have run
      return;
    }
    entry = unsubscribe;
    let byMailbox = this.#live.get(session.id);
    if (byMailbox === undefined) {
      byMailbox = new Map();
      this.#live.set(session.id, byMailbox);
      session.onClose(() => this.closeSession(session.id));
    }
    byMailbox.set(mailbox, unsubscribe);
  }

  disable(sessionId: string, mailbox: string): void {
    const unsubscribe = this.#live.get(sessionId)?.get(mailbox);
    if (unsubscribe !== undefined) unsubscribe(); // onClosed removes the entry
  }

  /** Ends live mode for every mailbox of a session (socket closed). */
  closeSession(sessionId: string): void {
    const byMailbox = this.#live.get(sessionId);
    if (byMailbox === undefined) return;
    for (const unsubscribe of [...byMailbox.values()]) unsubscribe();
    this.#live.delete(sessionId);
  }

  #forget(sessionId: string, mailbox: string, unsubscribe: () => void): void {
    const byMailbox = this.#live.get(sessionId);
    if (byMailbox === undefined || byMailbox.get(mailbox) !== unsubscribe) return;
    byMailbox.delete(mailbox);
    if (byMailbox.size === 0) this.#live.delete(sessionId);
  }
}
