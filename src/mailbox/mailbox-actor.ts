// One supervised actor per mailbox (client DID): serialised storage operations plus live-delivery listeners.
import type { MailboxPort } from "./port.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import { StorageError } from "../storage/errors.ts";
import type { EnqueueRequest, EnqueueResult, MailboxStats, Quota, StorageDriver, StoredMessage } from "../storage/types.ts";
import { ActorSystem, type ActorInfo } from "./actors/actor-system.ts";
import type { ActorSystemOptions } from "./actors/options.ts";
import { MailboxError, MailboxErrorCode } from "./errors.ts";
import { ListenerSet, type LiveListener, type SubscribeOptions } from "./listeners.ts";

/** Longest mailbox key (a client DID); did:peer:2 with services runs to a few KB. Same bound as storage. */
export const MAX_MAILBOX_KEY_CHARS = 4096;

export interface MailboxActorOptions {
  driver: StorageDriver;
  clock: Clock;
  random?: Random;
  /** Quota for mailboxes without an override. */
  defaultQuota: Quota;
  /** Per-mailbox quota, looked up when the actor starts (after each passivation or crash). */
  quotaFor?: (mailbox: string) => Quota | undefined | Promise<Quota | undefined>;
  /** Live listeners per mailbox (e.g. websocket sessions). Default 8, bounds 1..1000. */
  maxListenersPerMailbox?: number;
  /** Outstanding sends per listener before it is dropped as slow. Default 64, bounds 1..100_000. */
  maxInFlightPerListener?: number;
  /** Actor runtime options (passivation, maxActors, maxQueue, restart policy, hooks). */
  actors?: Omit<ActorSystemOptions, "clock" | "random">;
}

/** Per-mailbox actor state. Rebuilt from scratch after passivation or a crash: it holds no stored data. */
export interface MailboxState {
  readonly driver: StorageDriver;
  readonly quota: Quota;
  readonly listeners: ListenerSet;
  /**
   * The newest queued write (pipelined deliver); settles once durable. Every other operation waits for it first, so
   * reads, removals and subscriptions still see the mailbox as if each deliver had finished before the next turn.
   */
  lastWrite: Promise<unknown>;
}

export interface DeliverResult {
  result: EnqueueResult;
  /** Live listeners the message was handed to (0 unless stored). Sending may still fail later. */
  notified: number;
}

function checkMailbox(mailbox: unknown): asserts mailbox is string {
  if (typeof mailbox !== "string" || mailbox.length === 0 || mailbox.length > MAX_MAILBOX_KEY_CHARS) {
    throw new MailboxError(MailboxErrorCode.InvalidArgument, `mailbox must be a non-empty string of at most ${MAX_MAILBOX_KEY_CHARS} chars`);
  }
}

function boundedInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new MailboxError(MailboxErrorCode.InvalidArgument, `${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * Facade over one ActorSystem keyed by mailbox. Every operation on a mailbox runs inside its
 * actor, so deliveries, listings and removals on one mailbox are strictly ordered.
 *
 * Storage errors (StorageError) are domain errors here: they reject that one request and leave
 * the actor (and its live listeners) alone, because the state holds nothing a storage failure
 * could corrupt and the driver recovers on its own. Anything else (a bug) crashes the actor:
 * its listeners are closed with reason "crashed" and it restarts with backoff.
 * A mailbox with live listeners is never passivated.
 */
export class MailboxActor implements MailboxPort {
  readonly #system: ActorSystem<MailboxState>;

  constructor(opts: MailboxActorOptions) {
    const { driver, defaultQuota, quotaFor } = opts;
    const maxListeners = boundedInt("maxListenersPerMailbox", opts.maxListenersPerMailbox ?? 8, 1, 1000);
    const maxInFlight = boundedInt("maxInFlightPerListener", opts.maxInFlightPerListener ?? 64, 1, 100_000);
    const actorOptions: ActorSystemOptions = { ...opts.actors, clock: opts.clock };
    if (opts.random) actorOptions.random = opts.random;
    this.#system = new ActorSystem<MailboxState>(
      {
        init: async (mailbox) => ({
          driver,
          quota: (quotaFor ? await quotaFor(mailbox) : undefined) ?? defaultQuota,
          listeners: new ListenerSet(maxListeners, maxInFlight),
          lastWrite: Promise.resolve(),
        }),
        keepAlive: (s) => s.listeners.size > 0,
        onPassivate: (s) => s.listeners.closeAll("stopped"),
        onCrash: (_mailbox, _err, s) => s?.listeners.closeAll("crashed"),
        isExpectedError: (err) => err instanceof StorageError,
      },
      actorOptions,
    );
  }

  /**
   * Stores `req` (with the mailbox's quota) and, if newly stored, hands it to the live listeners.
   *
   * Pipelined: the actor's turn ends once the write is queued, not once it is durable. The driver applies writes in
   * call order and decides quota and duplicates inside the write, so the mailbox's order is kept while the next
   * forward to the same mailbox joins the same group commit instead of waiting a whole commit and fsync behind this
   * one (which capped a busy mailbox at one forward per fsync). Listeners are told after the write is durable,
   * still in call order: the driver settles writes in the order it applied them.
   */
  async deliver(req: EnqueueRequest): Promise<DeliverResult> {
    const mailbox = req?.mailbox;
    const { written, s, upToSeq } = await this.#ask(mailbox, (state) => {
      const w = state.driver.messages.enqueue(req, state.quota);
      state.lastWrite = w.catch(() => {}); // also keeps a rejection observed until the await below
      return { written: w, s: state, upToSeq: state.listeners.watermark() };
    });
    const result = await written;
    if (result.status !== "stored" || s.listeners.size === 0) return { result, notified: 0 };
    const msg: StoredMessage = {
      id: result.id,
      mailbox: req.mailbox,
      recipientDid: req.recipientDid,
      payload: req.payload, // shared by all listeners: they must not mutate it
      sizeBytes: req.payload.byteLength,
      receivedAtMs: req.receivedAtMs,
      expiresAtMs: req.expiresAtMs,
    };
    return { result, notified: s.listeners.notify(msg, upToSeq) };
  }

  /** Oldest first; `limit` is bounded by the driver. */
  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    return this.#askAfterWrites(mailbox, (s) => s.driver.messages.list(mailbox, opts));
  }

  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    return this.#askAfterWrites(mailbox, (s) => s.driver.messages.stats(mailbox, recipientDid));
  }

  /** Removes messages of this mailbox only (messages-received); returns how many were removed. */
  remove(mailbox: string, ids: readonly string[]): Promise<number> {
    return this.#askAfterWrites(mailbox, (s) => s.driver.messages.remove(mailbox, ids));
  }

  /**
   * Registers a live listener for messages delivered from now on (stored ones are fetched with
   * `list`). Messages stay stored until `remove`, whatever the listener answers. Resolves to the
   * unsubscribe function; rejects with MailboxError `too_many_listeners` when the mailbox is full.
   */
  subscribe(mailbox: string, listener: LiveListener, opts: SubscribeOptions = {}): Promise<() => void> {
    if (typeof listener !== "function") {
      return Promise.reject(new MailboxError(MailboxErrorCode.InvalidArgument, "listener must be a function"));
    }
    return this.#ask(mailbox, (s) => {
      if (s.listeners.size >= s.listeners.maxListeners) {
        throw new MailboxError(MailboxErrorCode.TooManyListeners, `mailbox has ${s.listeners.maxListeners} live listeners`, {
          retryable: true,
        });
      }
      return s.listeners.add(listener, opts);
    });
  }

  /** Live listeners of a mailbox (starts its actor if needed). */
  listenerCount(mailbox: string): Promise<number> {
    return this.#ask(mailbox, (s) => s.listeners.size);
  }

  /** Live mailbox actors. */
  get liveActors(): number {
    return this.#system.size;
  }

  inspect(mailbox: string): ActorInfo | undefined {
    return this.#system.inspect(mailbox);
  }

  /** Stops all actors (see ActorSystem.stop); live listeners are closed with reason "stopped". */
  stop(opts?: { drain?: boolean }): Promise<void> {
    return this.#system.stop(opts);
  }

  /** Like #ask, once the mailbox's queued writes are durable (see MailboxState.lastWrite). */
  #askAfterWrites<R>(mailbox: unknown, op: (s: MailboxState) => R | Promise<R>): Promise<R> {
    return this.#ask(mailbox, async (s) => {
      await s.lastWrite;
      return op(s);
    });
  }

  #ask<R>(mailbox: unknown, op: (s: MailboxState) => R | Promise<R>): Promise<R> {
    try {
      checkMailbox(mailbox); // before an actor is created: hostile keys must not allocate state
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#system.ask(mailbox, op);
  }
}
