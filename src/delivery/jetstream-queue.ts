// EventQueue + DlqStore for cluster mode: events on JetStream (haven.events.<partition>), schedule state in KV, dispatch by the partition owner, SQLite outbox when NATS is away.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { systemClock, type Clock, type TimerHandle } from "../runtime/clock.ts";
import { parseDeliveryUrl } from "./destination.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";
import type { DeadLetter, DeliveryEvent, DlqPage, DlqStore, DueOptions, EventQueue, NewDeliveryEvent } from "./event-queue.ts";
import { JetStreamDlq } from "./js-dlq.ts";
import { PartitionEvents } from "./js-partition.ts";
import { encodeEvent, eventSubject, type EventRecord } from "./js-records.ts";
import { traceparentField } from "./traceparent.ts";
import { ensureDeliveryStreams, resolveJetStreamQueueOptions, type JetStreamQueueOptions, type ResolvedJsQueueOptions } from "./jetstream-queue-options.ts";
import type { SqliteEventQueue } from "./sqlite-queue.ts";

export interface JetStreamQueueStatus {
  /** Events waiting in the local SQLite outbox for NATS to come back. */
  readonly outboxSize: number;
  /** True while the last publish failed (enqueues go to the outbox). */
  readonly degraded: boolean;
  /** Partitions loaded and served by this node. */
  readonly loadedPartitions: number[];
}

/**
 * Exactly one dispatcher per partition: the node whose dispatcher passes it in `due(..., {partitions})`
 * (its ownedPartitions). The queue opens a partition on first sight (loading state and events, awaiting
 * catch-up) and closes it when it leaves the set. Without `partitions`, all `partitionCount` are served.
 */
export class JetStreamEventQueue implements EventQueue, DlqStore {
  readonly #o: ResolvedJsQueueOptions;
  readonly #nc: NatsConnection;
  readonly #outbox: SqliteEventQueue;
  readonly #clock: Clock;
  #js: JetStreamClient | null = null;
  #jsm: JetStreamManager | null = null;
  #state: KV | null = null;
  #dlq: JetStreamDlq | null = null;
  #ready: Promise<void> | null = null;
  readonly #partitions = new Map<number, { events: PartitionEvents; opened: Promise<boolean> }>();
  #degraded = false;
  #relayTimer: TimerHandle | undefined;
  #relaying: Promise<number> | null = null;
  /** Outbox events handed to the dispatcher while degraded, by id -> claim expiry (monotonic ms); the relay skips them. */
  readonly #localClaims = new Map<string, number>();
  #closed = false;

  constructor(nc: NatsConnection, outbox: SqliteEventQueue, options: JetStreamQueueOptions = {}) {
    this.#o = resolveJetStreamQueueOptions(options);
    this.#nc = nc;
    this.#outbox = outbox;
    this.#clock = this.#o.clock;
  }

  /** Creates streams and bucket if needed. Failure is not fatal: enqueues use the outbox and the relay retries. */
  async start(): Promise<void> {
    this.#outboxCount = await this.#outbox.size();
    await this.#ensure().catch((e) => this.#o.log?.warn({ err: String(e) }, "delivery: JetStream not ready; using the outbox"));
    this.#armRelay();
  }

  #ensure(): Promise<void> {
    if (this.#ready === null) {
      this.#ready = (async () => {
        const o = this.#o;
        const jsm = await jetstreamManager(this.#nc, { timeout: o.requestTimeoutMs, checkAPI: false });
        await ensureDeliveryStreams(jsm, o);
        const js = jetstream(this.#nc, { timeout: o.requestTimeoutMs });
        this.#state = await new Kvm(js).create(o.stateBucket, { history: 1, replicas: o.replicas, ttl: o.deliveredRetentionMs });
        this.#js = js;
        this.#jsm = jsm;
        this.#dlq = new JetStreamDlq({ js, jsm, streamName: o.dlqStreamName, subjectPrefix: o.dlqPrefix, maxRecordBytes: o.maxRecordBytes, publishTimeoutMs: o.publishTimeoutMs, warn: this.#warn });
      })();
      this.#ready.catch(() => (this.#ready = null));
    }
    return this.#ready;
  }

  readonly #warn = (obj: object, msg: string): void => this.#o.log?.warn(obj, msg);

  get status(): JetStreamQueueStatus {
    return { outboxSize: this.#outboxCount, degraded: this.#degraded, loadedPartitions: [...this.#partitions.keys()].sort((a, b) => a - b) };
  }
  #outboxCount = 0;

  async enqueue(e: NewDeliveryEvent): Promise<boolean> {
    this.#checkOpen();
    const rec = this.#record(e, false);
    const wasDegraded = this.#degraded;
    try {
      // While degraded, straight to the outbox: waiting out a publish timeout per event would stall every
      // accepted forward behind NATS; the relay clears the flag once the outbox has drained.
      if (this.#degraded) throw new DeliveryError(DeliveryErrorCode.StoreUnavailable, "NATS degraded; using the outbox");
      await this.#ensure();
      const ack = await this.#js!.publish(eventSubject(e.partition, this.#o.eventPrefix), encodeEvent(rec), { msgID: e.id, timeout: this.#o.publishTimeoutMs });
      this.#degraded = false;
      return !ack.duplicate;
    } catch (err) {
      if (err instanceof DeliveryError && err.code === DeliveryErrorCode.Invalid) throw err;
      // NATS unreachable or slow: durable locally instead; the relay publishes it with the same msg id.
      this.#degraded = true;
      if (!wasDegraded) this.#o.log?.warn({ err: String(err) }, "delivery: JetStream publish failed; events go to the outbox until the relay drains it");
      const added = await this.#outbox.enqueue(e);
      this.#outboxCount = await this.#outbox.size();
      this.#armRelay();
      this.#o.onEvent(); // served from the outbox while degraded (see due)
      return added;
    }
  }

  /** Publishes outbox events in order until one fails; returns how many moved. Runs in the background too. */
  relayOnce(): Promise<number> {
    if (this.#relaying === null) {
      this.#relaying = this.#relay().finally(() => (this.#relaying = null));
    }
    return this.#relaying;
  }

  async #relay(): Promise<number> {
    let moved = 0;
    for (;;) {
      const read = await this.#outbox.due(Number.MAX_SAFE_INTEGER, this.#o.relayBatch);
      // Synchronously after the read: events the dispatcher is sending from the outbox stay here until it finished them.
      const batch = read.filter((e) => !this.#claimed(e.id));
      if (batch.length === 0) break;
      try {
        await this.#ensure();
        for (const e of batch) {
          await this.#js!.publish(eventSubject(e.partition, this.#o.eventPrefix), encodeEvent(this.#record({ ...e, notBeforeMs: e.nextAtMs }, false, e.createdAtMs)), {
            msgID: e.id,
            timeout: this.#o.publishTimeoutMs,
          });
          await this.#outbox.complete(e.id);
          moved++;
        }
      } catch (err) {
        this.#degraded = true;
        this.#o.log?.warn({ err: String(err) }, "delivery: outbox relay paused; NATS unreachable");
        break;
      }
      if (read.length < this.#o.relayBatch) {
        if (batch.length === read.length) this.#degraded = false;
        break;
      }
    }
    this.#outboxCount = await this.#outbox.size();
    return moved;
  }

  #armRelay(): void {
    if (this.#closed || this.#relayTimer !== undefined) return;
    this.#relayTimer = this.#clock.setTimeout(
      () => {
        this.#relayTimer = undefined;
        void this.relayOnce()
          .catch(() => {})
          .finally(() => {
            if (this.#outboxCount > 0) this.#armRelay();
          });
      },
      this.#o.relayIntervalMs,
      { unref: true },
    );
  }

  async due(nowMs: number, limit: number, opts: DueOptions = {}): Promise<DeliveryEvent[]> {
    checkInt("limit", limit, 1, 10_000);
    const out: Array<{ event: DeliveryEvent; order: number }> = [];
    for (const p of await this.#serve(opts)) p.due(nowMs, out);
    out.sort((a, b) => a.event.nextAtMs - b.event.nextAtMs || a.order - b.order);
    const events = out.slice(0, limit).map((x) => x.event);
    return events.length < limit ? [...events, ...(await this.#localDue(nowMs, limit - events.length))] : events;
  }

  /**
   * While NATS is unreachable (degraded) and no relay is running, the outbox's due events are dispatched from here:
   * they exist on no other node yet, so sending them cannot race a partition owner. Each is claimed so the relay
   * leaves it alone until the dispatcher completed or rescheduled it (or the claim lapsed).
   */
  async #localDue(nowMs: number, limit: number): Promise<DeliveryEvent[]> {
    if (!this.#degraded || this.#relaying !== null || this.#outboxCount === 0) return [];
    const local = await this.#outbox.due(nowMs, limit);
    if (!this.#degraded || this.#relaying !== null) return []; // a relay started meanwhile: it owns the outbox now
    const untilMs = this.#clock.monotonicMs() + LOCAL_CLAIM_MS;
    for (const e of local) this.#localClaims.set(e.id, untilMs);
    return local.map((e) => ({ ...e, local: true }));
  }

  #claimed(id: string): boolean {
    const until = this.#localClaims.get(id);
    if (until === undefined) return false;
    if (until > this.#clock.monotonicMs()) return true;
    this.#localClaims.delete(id);
    return false;
  }

  async nextDueAtMs(opts: DueOptions = {}): Promise<number | null> {
    let min: number | null = this.#degraded && this.#outboxCount > 0 ? await this.#outbox.nextDueAtMs() : null;
    for (const p of await this.#serve(opts)) {
      const n = p.nextDueAtMs();
      if (n !== null && (min === null || n < min)) min = n;
    }
    return min;
  }

  /** Aligns loaded partitions with the owned set: opens new ones (awaiting catch-up), closes the rest. */
  async #serve(opts: DueOptions): Promise<PartitionEvents[]> {
    this.#checkOpen();
    const wanted = opts.partitions ?? new Set(Array.from({ length: this.#o.partitionCount }, (_, i) => i));
    for (const [p] of this.#partitions) if (!wanted.has(p) && !(opts.retain?.has(p) ?? false)) await this.closePartition(p);
    try {
      await this.#ensure();
    } catch {
      return [];
    }
    for (const p of wanted) {
      if (this.#partitions.has(p)) continue;
      const events = new PartitionEvents(p, {
        js: this.#js!,
        jsm: this.#jsm!,
        state: this.#state!,
        streamName: this.#o.streamName,
        subjectPrefix: this.#o.eventPrefix,
        maxRecordBytes: this.#o.maxRecordBytes,
        maxTerminalStates: 100_000,
        onNew: this.#o.onEvent,
        warn: this.#warn,
      });
      const opened = withTimeout(events.open(), this.#o.openTimeoutMs, this.#clock).then(
        () => true,
        async (e: unknown) => {
          this.#o.log?.warn({ partition: p, err: String(e) }, "delivery: could not load partition events; retrying next pass");
          if (this.#partitions.get(p)?.events === events) this.#partitions.delete(p);
          await events.close();
          return false;
        },
      );
      this.#partitions.set(p, { events, opened });
    }
    const served: PartitionEvents[] = [];
    for (const p of wanted) {
      const entry = this.#partitions.get(p);
      if (entry !== undefined && (await entry.opened)) served.push(entry.events);
    }
    return served;
  }

  /** Stops serving a partition (ownership lost): in-memory state is dropped, nothing is written. */
  async closePartition(partition: number): Promise<void> {
    const entry = this.#partitions.get(partition);
    if (entry === undefined) return;
    this.#partitions.delete(partition);
    await entry.events.close();
  }

  async reschedule(id: string, nextAtMs: number, attempts: number, lastError: string | null = null): Promise<void> {
    checkInt("attempts", attempts, 0, 1_000_000);
    if (!Number.isFinite(nextAtMs)) throw new DeliveryError(DeliveryErrorCode.Invalid, "nextAtMs must be finite");
    if (this.#localClaims.delete(id)) return this.#outbox.reschedule(id, nextAtMs, attempts, lastError);
    await this.#owner(id).reschedule(id, Math.max(0, Math.floor(nextAtMs)), attempts, lastError === null ? null : lastError.slice(0, 200));
  }

  async complete(id: string): Promise<void> {
    if (this.#localClaims.delete(id)) {
      await this.#outbox.complete(id); // delivered from the outbox: it is never relayed
      this.#outboxCount = await this.#outbox.size();
      return;
    }
    const p = this.#owner(id);
    await p.finish(id, "c", p.pending.get(id)!.event.attempts);
  }

  async deadLetter(id: string, reason: string, attempts?: number): Promise<void> {
    if (this.#localClaims.delete(id)) {
      // Dead-lettered while NATS was away: kept in this node's SQLite DLQ (the cluster DLQ is unreachable).
      await this.#outbox.deadLetter(id, reason, attempts);
      this.#outboxCount = await this.#outbox.size();
      return;
    }
    const p = this.#owner(id);
    const ev = p.pending.get(id)!.event;
    const final = attempts === undefined ? ev.attempts : checkInt("attempts", attempts, 0, 1_000_000);
    // DLQ first: if the state write then fails (ownership moved), the new owner may retry it; a replay dedups by id.
    await this.#dlq!.add({ ...ev, attempts: final, reason: reason.slice(0, 200), deadAtMs: this.#clock.nowMs() });
    await p.finish(id, "d", final);
  }

  /** Pending events in the loaded partitions plus the local outbox. */
  async size(): Promise<number> {
    let n = this.#outboxCount;
    for (const { events } of this.#partitions.values()) n += events.pending.size;
    return n;
  }

  async count(): Promise<number> {
    await this.#ensure();
    return this.#dlq!.count();
  }

  async list(opts: { limit?: number; after?: string | null } = {}): Promise<DlqPage> {
    await this.#ensure();
    return this.#dlq!.list(opts);
  }

  async replay(selection: "all" | readonly string[], nowMs: number): Promise<number> {
    await this.#ensure();
    return this.#dlq!.replay(selection, async (d: DeadLetter, dlqSeq: number) => {
      const rec = this.#record({ ...d, notBeforeMs: nowMs }, true, d.createdAtMs);
      await this.#js!.publish(eventSubject(d.partition, this.#o.eventPrefix), encodeEvent(rec), { msgID: `replay:${d.id}:${dlqSeq}`, timeout: this.#o.publishTimeoutMs });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#relayTimer !== undefined) this.#clock.clearTimeout(this.#relayTimer);
    this.#relayTimer = undefined;
    await this.#relaying?.catch(() => 0);
    for (const p of [...this.#partitions.keys()]) await this.closePartition(p);
  }

  #owner(id: string): PartitionEvents {
    for (const { events } of this.#partitions.values()) if (events.has(id)) return events;
    throw new DeliveryError(DeliveryErrorCode.NotFound, "no such pending event on this node");
  }

  #record(e: NewDeliveryEvent, replay: boolean, createdAtMs = this.#clock.nowMs()): EventRecord {
    const bad = (what: string) => new DeliveryError(DeliveryErrorCode.Invalid, `invalid event: ${what}`);
    if (typeof e.id !== "string" || e.id.length === 0 || e.id.length > 256) throw bad("id");
    if (!Number.isInteger(e.partition) || e.partition < 0 || e.partition >= this.#o.partitionCount) throw bad("partition");
    if (!(e.body instanceof Uint8Array) || e.body.length > this.#o.maxBodyBytes) throw bad("body");
    if (typeof e.mailbox !== "string" || e.mailbox.length === 0 || e.mailbox.length > 8192) throw bad("mailbox");
    if (typeof e.contentType !== "string" || e.contentType.length === 0 || e.contentType.length > 200) throw bad("contentType");
    if (e.kind !== "webhook" && e.kind !== "push" && e.kind !== "reply") throw bad("kind");
    parseDeliveryUrl(e.url);
    const notBeforeMs = Math.max(0, Math.floor(e.notBeforeMs ?? this.#clock.nowMs()));
    const rec: EventRecord = { id: e.id, kind: e.kind, mailbox: e.mailbox, partition: e.partition, url: e.url, body: e.body, contentType: e.contentType, signingRef: e.signingRef ?? null, notBeforeMs, createdAtMs, replay };
    // A bad traceparent is dropped here, not rejected: the event matters, its trace link does not.
    return { ...rec, ...traceparentField(e.traceparent) };
  }

  #checkOpen(): void {
    if (this.#closed) throw new DeliveryError(DeliveryErrorCode.Closed, "event queue closed");
  }
}

/** How long an outbox event handed to the dispatcher is kept from the relay (well above any call timeout). */
const LOCAL_CLAIM_MS = 60_000;

function withTimeout<T>(p: Promise<T>, ms: number, clock: Clock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = clock.setTimeout(() => reject(new DeliveryError(DeliveryErrorCode.StoreUnavailable, `partition load timed out after ${ms} ms`, { retryable: true })), ms, { unref: true });
    p.then(
      (v) => (clock.clearTimeout(t), resolve(v)),
      (e: unknown) => (clock.clearTimeout(t), reject(e)),
    );
  });
}
