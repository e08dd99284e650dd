// The handlers' view of the delivery pipeline (OutboundEvents): webhook events per accepted forward (optionally coalesced per mailbox) and reply events.
import { partitionOf } from "../cluster/partition.ts";
import type { EventQueue, NewDeliveryEvent } from "../delivery/event-queue.ts";
import { webhookBody } from "../delivery/signing.ts";
import type { WebhookStore, WebhookView } from "../delivery/webhook-store.ts";
import { currentTraceparent } from "../observability/tracing.ts";
import type { OutboundEvents } from "../protocols/types.ts";
import type { Clock, TimerHandle } from "../runtime/clock.ts";

/** A store that can answer from memory without a promise (CachedWebhookStore.peek); undefined = ask `get`. */
export interface PeekableWebhookStore extends WebhookStore {
  peek(recipientDid: string): WebhookView | null | undefined;
}

export interface DeliveryEventsOptions {
  queue: EventQueue;
  /** Where webhooks are looked up (wrap it in CachedWebhookStore: this runs once per accepted forward). */
  webhooks: WebhookStore | PeekableWebhookStore;
  /** PARTITIONS: an event belongs to its mailbox's partition, so the mailbox owner dispatches it. */
  partitions: number;
  clock: Clock;
  /** WEBHOOK_COALESCE_MS; 0 = one event per accepted message. */
  coalesceMs: number;
  /** Called after an event was queued (wakes the local dispatcher). */
  onQueued?: () => void;
  log?: { warn(obj: object, msg: string): void } | null;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Open coalescing windows at once; beyond that, messages get their own event (never dropped). */
const MAX_OPEN_WINDOWS = 100_000;

interface Window {
  readonly hook: WebhookView;
  readonly mailbox: string;
  readonly firstId: string;
  readonly createdAtMs: number;
  /** The first message's trace: a coalesced notification joins the trace of the forward that opened the window. */
  readonly traceparent: string | undefined;
  count: number;
  timer: TimerHandle;
}

/**
 * Event ids: `wh:<dedupId>` (one per forward, stable across retries of that forward, so a re-applied
 * forward queues nothing new), `whc:<dedupId of the window's first message>` for a coalesced window, and
 * the caller's id for replies. Coalescing keeps the window's count in memory on the accepting node until the
 * window closes: a crash inside the window loses that notification (never a message); documented.
 */
export class DeliveryEvents implements OutboundEvents {
  readonly #o: DeliveryEventsOptions;
  readonly #windows = new Map<string, Window>();
  readonly #flushing = new Set<Promise<void>>();
  #closed = false;

  constructor(o: DeliveryEventsOptions) {
    if (!Number.isInteger(o.coalesceMs) || o.coalesceMs < 0) throw new RangeError("coalesceMs must be a non-negative integer");
    this.#o = o;
  }

  messageAccepted(e: { mailbox: string; recipientDid: string; dedupId: string; receivedAtMs: number }): Promise<void> {
    // Most forwards go to DIDs without a webhook, answered from the cache: no lookup promise on the ingest path.
    const known = this.#peekWebhookFor(e.recipientDid, e.mailbox);
    if (known === null) return RESOLVED;
    return this.#accepted(e, known);
  }

  async #accepted(e: { mailbox: string; recipientDid: string; dedupId: string; receivedAtMs: number }, known: WebhookView | undefined): Promise<void> {
    const hook = known ?? (await this.#webhookFor(e.recipientDid, e.mailbox));
    if (hook === null) return;
    const nowMs = this.#o.clock.nowMs();
    // The forward's span (undefined while tracing is off): the deliver span of the notification joins its trace.
    const traceparent = currentTraceparent();
    if (this.#o.coalesceMs === 0 || this.#closed) {
      await this.#enqueueWebhook(hook, e.mailbox, `wh:${e.dedupId}`, 1, nowMs, traceparent);
      return;
    }
    const key = `${e.mailbox}\u0000${hook.recipientDid}`;
    const open = this.#windows.get(key);
    if (open !== undefined) {
      open.count++;
      return;
    }
    if (this.#windows.size >= MAX_OPEN_WINDOWS) {
      await this.#enqueueWebhook(hook, e.mailbox, `wh:${e.dedupId}`, 1, nowMs, traceparent);
      return;
    }
    const timer = this.#o.clock.setTimeout(() => this.#closeWindow(key), this.#o.coalesceMs, { unref: true });
    this.#windows.set(key, { hook, mailbox: e.mailbox, firstId: e.dedupId, createdAtMs: nowMs, traceparent, count: 1, timer });
  }

  async reply(e: { id: string; toDid: string; url: string; body: Uint8Array; contentType: string }): Promise<void> {
    const ev: NewDeliveryEvent = {
      id: e.id,
      kind: "reply",
      // Replies have no mailbox: the recipient DID keys them (and picks the dispatching partition owner).
      mailbox: e.toDid,
      partition: partitionOf(e.toDid, this.#o.partitions),
      url: e.url,
      body: e.body,
      contentType: e.contentType,
      ...withTraceparent(currentTraceparent()),
    };
    await this.#o.queue.enqueue(ev);
    this.#o.onQueued?.();
  }

  /** Queues every open coalescing window now (at stop) and waits for those in progress. */
  async flush(): Promise<void> {
    this.#closed = true;
    for (const [key, w] of [...this.#windows]) {
      this.#o.clock.clearTimeout(w.timer);
      this.#closeWindow(key);
    }
    await Promise.allSettled([...this.#flushing]);
  }

  #closeWindow(key: string): void {
    const w = this.#windows.get(key);
    if (w === undefined) return;
    this.#windows.delete(key);
    const p = this.#enqueueWebhook(w.hook, w.mailbox, `whc:${w.firstId}`, w.count, w.createdAtMs, w.traceparent)
      .catch((err: unknown) => this.#o.log?.warn({ err: err instanceof Error ? err.name : typeof err, messages: w.count }, "delivery: coalesced webhook event could not be queued"))
      .finally(() => this.#flushing.delete(p));
    this.#flushing.add(p);
  }

  /** #webhookFor from the cache alone; undefined when either lookup it needs is not cached. */
  #peekWebhookFor(recipientDid: string, mailbox: string): WebhookView | null | undefined {
    const store = this.#o.webhooks;
    if (!("peek" in store)) return undefined;
    const own = store.peek(recipientDid);
    if (own !== null || recipientDid === mailbox) return own;
    return store.peek(mailbox);
  }

  async #webhookFor(recipientDid: string, mailbox: string): Promise<WebhookView | null> {
    const own = await this.#o.webhooks.get(recipientDid);
    if (own !== null || recipientDid === mailbox) return own;
    // A client that registered for its own DID hears about every recipient DID of its keylist.
    return this.#o.webhooks.get(mailbox);
  }

  async #enqueueWebhook(hook: WebhookView, mailbox: string, id: string, count: number, createdAtMs: number, traceparent: string | undefined): Promise<void> {
    const body = webhookBody({ eventId: id, recipientDid: hook.recipientDid, messageCount: count, createdAtMs });
    await this.#o.queue.enqueue({
      id,
      kind: "webhook",
      mailbox,
      partition: partitionOf(mailbox, this.#o.partitions),
      url: hook.url,
      body,
      contentType: "application/json",
      // The secret is looked up at send time by this DID; it never sits in the queue.
      signingRef: hook.recipientDid,
      ...withTraceparent(traceparent),
    });
    this.#o.onQueued?.();
  }
}

/** The field only when there is a trace: with tracing off, events keep exactly their old shape. */
function withTraceparent(traceparent: string | undefined): { traceparent?: string } {
  return traceparent === undefined ? {} : { traceparent };
}
