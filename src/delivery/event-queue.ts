// The durable event queue and dead-letter store interfaces: what the dispatcher needs, shaped so a JetStream-backed queue can implement it per partition.

/** What an outbound event is for. */
export type DeliveryKind = "webhook" | "push" | "reply";

export interface NewDeliveryEvent {
  /** Unique event id; sent as the Idempotency-Key. Enqueueing an id twice is a no-op. */
  readonly id: string;
  readonly kind: DeliveryKind;
  /** Mailbox key (client DID) the event belongs to. */
  readonly mailbox: string;
  /** partitionOf(mailbox): only the partition's owner dispatches the event. */
  readonly partition: number;
  /** Target URL (http/https). */
  readonly url: string;
  /** Request body (webhooks: webhookBody(); never secrets). */
  readonly body: Uint8Array;
  readonly contentType: string;
  /** Webhooks: whose secret signs the request, looked up at send time so secrets never sit in the queue. */
  readonly signingRef?: string | null;
  /** Not before this wall-clock ms (default: now, i.e. due at once). */
  readonly notBeforeMs?: number;
  /**
   * W3C traceparent of the span that queued the event (currentTraceparent(); absent while tracing is off): the
   * dispatcher's `deliver` span joins that trace. Invalid values are dropped (stored as null), never an error.
   */
  readonly traceparent?: string | null;
}

export interface DeliveryEvent {
  readonly id: string;
  readonly kind: DeliveryKind;
  readonly mailbox: string;
  readonly partition: number;
  readonly url: string;
  /** destinationOf(url): the breaker and concurrency unit. */
  readonly destination: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly signingRef: string | null;
  /** Attempts made so far (waiting on an open breaker is not an attempt). */
  readonly attempts: number;
  readonly nextAtMs: number;
  readonly createdAtMs: number;
  /** Short classification of the last failure ("http_503", "timeout", "breaker_open"...), never a response body. */
  readonly lastError: string | null;
  /**
   * Served from this node's local outbox while the shared queue (NATS) is unreachable: no partition owner is
   * involved (the event exists nowhere else yet), so ownership checks and partition fences do not apply.
   */
  readonly local?: boolean;
  /** The traceparent it was queued with (validated; absent when there was none). */
  readonly traceparent?: string | null;
}

export interface DueOptions {
  /** Only events of these partitions (the ones this node owns); omitted = all (single-node mode). */
  readonly partitions?: ReadonlySet<number>;
  /**
   * Partitions not in `partitions` that must stay loaded anyway (calls of theirs are still in flight here and will
   * complete or reschedule): a cluster queue unloads other partitions, this keeps it from pulling the event away
   * from under a call whose 2xx is about to be recorded.
   */
  readonly retain?: ReadonlySet<number>;
}

/**
 * Durable queue of pending events. Every method is durable when its promise resolves. A cluster
 * implementation keeps one sub-queue per partition and serves only owned partitions; the dispatcher
 * passes the owned set to `due`, so the same dispatcher runs on either.
 */
export interface EventQueue {
  /** Adds an event; false if this id is already pending, dead-lettered or recently delivered. */
  enqueue(e: NewDeliveryEvent): Promise<boolean>;
  /** Up to `limit` events with nextAtMs <= nowMs, earliest first (ties in enqueue order). Does not lock them: one dispatcher per partition. */
  due(nowMs: number, limit: number, opts?: DueOptions): Promise<DeliveryEvent[]>;
  /** Earliest nextAtMs among pending events (within opts.partitions), or null when empty: lets the dispatcher sleep until then. */
  nextDueAtMs(opts?: DueOptions): Promise<number | null>;
  /** Sets when the event is next due and how many attempts it has made. */
  reschedule(id: string, nextAtMs: number, attempts: number, lastError?: string | null): Promise<void>;
  /** Delivered: removes the event (and remembers its id for duplicate enqueues). */
  complete(id: string): Promise<void>;
  /** Moves the event to the dead-letter store with a short reason and its final attempt count (default: unchanged). */
  deadLetter(id: string, reason: string, attempts?: number): Promise<void>;
  /** Pending events (for metrics/readiness). */
  size(): Promise<number>;
}

export interface DeadLetter extends DeliveryEvent {
  readonly reason: string;
  readonly deadAtMs: number;
}

export interface DlqPage {
  readonly items: DeadLetter[];
  /** Pass as `after` to get the next page; null at the end. */
  readonly next: string | null;
}

export interface DlqStore {
  /** Oldest first, `limit` 1..1000 per page. */
  list(opts?: { limit?: number; after?: string | null }): Promise<DlqPage>;
  /** Moves entries back into the queue with attempts reset, due at `nowMs`; returns how many moved. */
  replay(selection: "all" | readonly string[], nowMs: number): Promise<number>;
  /** Entries in the DLQ. */
  count(): Promise<number>;
}
