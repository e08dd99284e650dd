// One owned partition of the JetStream event queue: loads schedule state and the partition's event subject, then keeps the pending set in memory.
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { DeliverPolicy } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { DeliveryEvent } from "./event-queue.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";
import { isCasConflict } from "./kv-breaker-store.ts";
import { decodeEvent, decodeState, encodeState, eventSubject, stateKey, toDeliveryEvent, type EventState } from "./js-records.ts";

export interface PartitionDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly state: KV;
  readonly streamName: string;
  /** "haven.events." */
  readonly subjectPrefix: string;
  readonly maxRecordBytes: number;
  /** Most terminal states remembered in memory per partition (duplicates older than that rely on the KV copy at next load). */
  readonly maxTerminalStates: number;
  readonly onNew: () => void;
  readonly warn: (obj: object, msg: string) => void;
}

interface Pending {
  event: DeliveryEvent;
  seq: number;
  /** Order of arrival on this node: ties in nextAtMs are served in enqueue order. */
  order: number;
}

interface KnownState {
  state: EventState;
  revision: number;
}

const STATE_READ_CONCURRENCY = 16;

/**
 * Invariant: only the partition's owner opens it, and every state write is a CAS on the revision it
 * loaded or last wrote, so a deposed owner's late write fails instead of overwriting the new owner's.
 */
export class PartitionEvents {
  readonly partition: number;
  readonly #d: PartitionDeps;
  readonly pending = new Map<string, Pending>();
  readonly #states = new Map<string, KnownState>();
  #messages: ConsumerMessages | null = null;
  #loop: Promise<void> | null = null;
  #order = 0;
  #targetSeq = 0;
  #caughtUp: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void };
  #closed = false;

  constructor(partition: number, deps: PartitionDeps) {
    this.partition = partition;
    this.#d = deps;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {});
    this.#caughtUp = { promise, resolve, reject };
  }

  /** Loads states, then reads the subject from its first message; resolves once caught up with the subject's last message at open time. */
  async open(): Promise<void> {
    const d = this.#d;
    const keys: string[] = [];
    for await (const k of await d.state.keys(`${this.partition}.*`)) keys.push(k);
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const e = await d.state.get(key);
        if (e === null || e.operation !== "PUT") continue;
        try {
          const id = Buffer.from(key.slice(key.indexOf(".") + 1), "base64url").toString("utf8");
          this.#states.set(id, { state: decodeState(e.value), revision: e.revision });
        } catch (err) {
          d.warn({ partition: this.partition, err: String(err) }, "delivery: skipped a corrupt event state");
        }
      }
    };
    await Promise.all(Array.from({ length: STATE_READ_CONCURRENCY }, worker));
    const subject = eventSubject(this.partition, d.subjectPrefix);
    const last = await d.jsm.streams.getMessage(d.streamName, { last_by_subj: subject }).catch(() => null);
    this.#targetSeq = last?.seq ?? 0;
    if (this.#targetSeq === 0) this.#caughtUp.resolve();
    const consumer = await d.js.consumers.get(d.streamName, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
    this.#messages = await consumer.consume({ max_messages: 256 });
    this.#loop = this.#run(this.#messages);
    await this.#caughtUp.promise;
  }

  async #run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        if (this.#closed) break;
        this.#apply(m.seq, m.data);
        if (m.seq >= this.#targetSeq || m.info.pending === 0) this.#caughtUp.resolve();
      }
    } catch (e) {
      this.#caughtUp.reject(e);
    }
  }

  #apply(seq: number, data: Uint8Array): void {
    let rec;
    try {
      rec = decodeEvent(data, this.#d.maxRecordBytes);
      if (rec.partition !== this.partition) throw new DeliveryError(DeliveryErrorCode.Invalid, "event on the wrong partition subject");
    } catch (e) {
      this.#d.warn({ partition: this.partition, streamSeq: seq, err: String(e) }, "delivery: skipped a corrupt event");
      return;
    }
    if (this.pending.has(rec.id)) {
      // A second copy (relayed after the dedup window): the first one carries the schedule.
      if (this.pending.get(rec.id)!.seq !== seq) this.#deleteMessage(seq);
      return;
    }
    const known = this.#states.get(rec.id);
    let attempts = 0;
    let nextAtMs = rec.notBeforeMs;
    let lastError: string | null = null;
    if (known !== undefined && known.state.st !== "p") {
      // Completed or dead-lettered: only a replay published after that may bring it back.
      if (!(rec.replay && seq > known.state.seq)) {
        this.#deleteMessage(seq);
        return;
      }
    } else if (known !== undefined) {
      ({ attempts, nextAtMs, lastError } = known.state);
    }
    let event: DeliveryEvent;
    try {
      event = toDeliveryEvent(rec, attempts, nextAtMs, lastError);
    } catch (e) {
      this.#d.warn({ partition: this.partition, streamSeq: seq, err: String(e) }, "delivery: skipped an event with a bad URL");
      return;
    }
    this.pending.set(rec.id, { event, seq, order: this.#order++ });
    this.#d.onNew();
  }

  /** Pending events due at `nowMs`, as [event, arrival order] for a stable merge across partitions. */
  due(nowMs: number, out: Array<{ event: DeliveryEvent; order: number }>): void {
    for (const p of this.pending.values()) if (p.event.nextAtMs <= nowMs) out.push({ event: p.event, order: p.order });
  }

  nextDueAtMs(): number | null {
    let min: number | null = null;
    for (const p of this.pending.values()) if (min === null || p.event.nextAtMs < min) min = p.event.nextAtMs;
    return min;
  }

  async reschedule(id: string, nextAtMs: number, attempts: number, lastError: string | null): Promise<void> {
    const p = this.#pendingOf(id);
    await this.#writeState(id, { st: "p", seq: p.seq, attempts, nextAtMs, lastError });
    p.event = { ...p.event, attempts, nextAtMs, lastError };
  }

  /**
   * Terminal: writes the state first (the fence), then deletes the message; a failed delete is cleaned up by the next
   * load. If another node rescheduled the event meanwhile (an overlap of owners), a completion is still recorded on
   * top of that state: the 2xx happened, and losing it would only make the event go out again.
   */
  async finish(id: string, st: "c" | "d", attempts: number): Promise<DeliveryEvent> {
    const p = this.#pendingOf(id);
    const state = (): EventState => ({ st, seq: p.seq, attempts, nextAtMs: p.event.nextAtMs, lastError: p.event.lastError });
    try {
      await this.#writeState(id, state());
    } catch (e) {
      if (st !== "c" || !(e instanceof DeliveryError && e.code === DeliveryErrorCode.Fenced) || !this.pending.has(id)) throw e;
      await this.#writeState(id, state()); // on the revision just re-read
    }
    this.pending.delete(id);
    this.#deleteMessage(p.seq);
    this.#pruneTerminal();
    return { ...p.event, attempts };
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#caughtUp.reject(new DeliveryError(DeliveryErrorCode.Closed, "partition closed"));
    await this.#messages?.close().catch(() => {});
    await this.#loop?.catch(() => {});
    this.pending.clear();
  }

  #pendingOf(id: string): Pending {
    const p = this.pending.get(id);
    if (p === undefined) throw new DeliveryError(DeliveryErrorCode.NotFound, "no such pending event");
    return p;
  }

  async #writeState(id: string, state: EventState): Promise<void> {
    const key = stateKey(this.partition, id);
    const known = this.#states.get(id);
    let revision: number;
    try {
      revision = known === undefined ? await this.#d.state.create(key, encodeState(state)) : await this.#d.state.update(key, encodeState(state), known.revision);
    } catch (e) {
      if (isCasConflict(e) || (e instanceof Error && /exists/i.test(e.message))) {
        // Someone else wrote it: ownership moved. Stop here rather than overwrite the new owner. If that writer
        // finished the event (a deposed owner recording its 2xx late), this copy is done too: drop it, or it
        // would be sent again on every pass; if it rescheduled it, adopt that state so the next write can land.
        await this.#adoptStateWrittenElsewhere(id, key);
        throw new DeliveryError(DeliveryErrorCode.Fenced, "event state changed elsewhere (partition ownership moved)", { retryable: false, cause: e });
      }
      throw new DeliveryError(DeliveryErrorCode.Storage, "event state write failed", { retryable: true, cause: e });
    }
    this.#states.set(id, { state, revision });
  }

  async #adoptStateWrittenElsewhere(id: string, key: string): Promise<void> {
    const e = await this.#d.state.get(key).catch(() => null);
    if (e === null || e.operation !== "PUT") return;
    let state: EventState;
    try {
      state = decodeState(e.value);
    } catch {
      return;
    }
    this.#states.set(id, { state, revision: e.revision });
    const p = this.pending.get(id);
    if (p === undefined) return;
    if (state.st === "p") {
      p.event = { ...p.event, attempts: state.attempts, nextAtMs: state.nextAtMs, lastError: state.lastError };
      return;
    }
    this.pending.delete(id);
    this.#deleteMessage(p.seq);
    this.#d.warn({ partition: this.partition, st: state.st }, "delivery: event was finished by another node; dropped here");
  }

  #deleteMessage(seq: number): void {
    void this.#d.jsm.streams.deleteMessage(this.#d.streamName, seq, false).catch(() => {
      // Already gone, or NATS away: the terminal state makes the next load delete it.
    });
  }

  #pruneTerminal(): void {
    if (this.#states.size <= this.#d.maxTerminalStates) return;
    for (const [id, k] of this.#states) {
      if (this.#states.size <= this.#d.maxTerminalStates) break;
      if (k.state.st !== "p") this.#states.delete(id);
    }
  }
}

