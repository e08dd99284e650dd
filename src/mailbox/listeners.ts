// Live-delivery listeners of one mailbox: fan-out without blocking the actor, bounded in-flight per listener.
import type { StoredMessage } from "../storage/types.ts";

/** Pushes one message to a live client; resolves true if it was sent. False or a rejection removes the listener. */
export type LiveListener = (msg: StoredMessage) => Promise<boolean>;

/**
 * Why a listener stopped receiving messages (exactly one reason per listener, reported once):
 * - unsubscribed: the caller's unsubscribe function;
 * - rejected / failed: the listener resolved false / threw or rejected;
 * - slow: it had `maxInFlight` sends outstanding (the client falls back to pickup);
 * - crashed / stopped: the mailbox actor crashed (state dropped) or the system stopped.
 */
export type ListenerCloseReason = "unsubscribed" | "rejected" | "failed" | "slow" | "crashed" | "stopped";

export interface SubscribeOptions {
  /** Called once when the listener is removed, whatever the reason. Must not throw (errors are swallowed). */
  onClosed?: (reason: ListenerCloseReason) => void;
}

interface Subscription {
  readonly listener: LiveListener;
  readonly onClosed: ((reason: ListenerCloseReason) => void) | undefined;
  inFlight: number;
  closed: boolean;
  /** Position in subscription order (see `watermark`). */
  readonly seq: number;
}

/**
 * The listener set of one mailbox. `notify` hands a message to every listener synchronously, in
 * subscription order, and does not wait for the sends: a slow client never stalls deliveries to
 * its mailbox. Per listener, calls happen in delivery order; keeping sends in order is the
 * listener's job. Outcomes arrive later and may remove a listener (Set mutation is atomic in JS,
 * so this is safe outside the actor's turn; after a crash the old set is simply garbage).
 */
export class ListenerSet {
  readonly #subs = new Set<Subscription>();
  #added = 0;

  constructor(
    readonly maxListeners: number,
    readonly maxInFlight: number,
  ) {}

  get size(): number {
    return this.#subs.size;
  }

  /** Caller checks `size < maxListeners` first (to raise a typed error). Returns the unsubscribe function. */
  add(listener: LiveListener, opts: SubscribeOptions): () => void {
    const sub: Subscription = { listener, onClosed: opts.onClosed, inFlight: 0, closed: false, seq: ++this.#added };
    this.#subs.add(sub);
    return () => this.#close(sub, "unsubscribed");
  }

  /**
   * The newest subscription so far. A write queued now and made durable later is handed only to the listeners up to
   * this mark: one that subscribed in between fetches stored messages itself, and would otherwise get it twice.
   */
  watermark(): number {
    return this.#added;
  }

  /** Returns how many listeners the message was handed to (those subscribed up to `upToSeq`, default all). */
  notify(msg: StoredMessage, upToSeq: number = Number.POSITIVE_INFINITY): number {
    let handed = 0;
    for (const sub of this.#subs) {
      if (sub.seq > upToSeq) continue;
      if (sub.inFlight >= this.maxInFlight) {
        this.#close(sub, "slow");
        continue;
      }
      let sent: Promise<boolean>;
      try {
        sent = sub.listener(msg);
      } catch {
        this.#close(sub, "failed");
        continue;
      }
      sub.inFlight++;
      handed++;
      Promise.resolve(sent).then(
        (ok) => {
          sub.inFlight--;
          if (ok !== true) this.#close(sub, "rejected");
        },
        () => {
          sub.inFlight--;
          this.#close(sub, "failed");
        },
      );
    }
    return handed;
  }

  /** Removes every listener with the given reason (crash or stop). */
  closeAll(reason: ListenerCloseReason): void {
    for (const sub of this.#subs) this.#close(sub, reason);
  }

  #close(sub: Subscription, reason: ListenerCloseReason): void {
    if (sub.closed) return;
    sub.closed = true;
    this.#subs.delete(sub);
    try {
      sub.onClosed?.(reason);
    } catch {
      // A faulty callback must not break delivery to the other listeners.
    }
  }
}
