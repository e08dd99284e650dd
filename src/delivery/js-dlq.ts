// The cluster dead-letter queue: a JetStream stream (one subject per event id, latest only), listable and replayable from any node.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { DeliverPolicy } from "@nats-io/jetstream";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";
import type { DeadLetter, DlqPage } from "./event-queue.ts";
import { decodeDeadLetter, encodeDeadLetter, idToken } from "./js-records.ts";

export interface JsDlqDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly streamName: string;
  /** "haven.dlq." */
  readonly subjectPrefix: string;
  readonly maxRecordBytes: number;
  readonly publishTimeoutMs: number;
  readonly warn: (obj: object, msg: string) => void;
}

const MAX_REPLAY_IDS = 10_000;

export class JetStreamDlq {
  readonly #d: JsDlqDeps;

  constructor(deps: JsDlqDeps) {
    this.#d = deps;
  }

  /** Durable when resolved. The msg id makes a retried add after a lost ack a no-op. */
  async add(d: DeadLetter): Promise<void> {
    await this.#d.js.publish(`${this.#d.subjectPrefix}${idToken(d.id)}`, encodeDeadLetter(d), {
      msgID: `dlq:${d.id}:${d.deadAtMs}`,
      timeout: this.#d.publishTimeoutMs,
    });
  }

  async count(): Promise<number> {
    const info = await this.#d.jsm.streams.info(this.#d.streamName);
    return info.state.messages;
  }

  /** Oldest first; the cursor is the stream sequence of the last entry returned. */
  async list(opts: { limit?: number; after?: string | null } = {}): Promise<DlqPage> {
    const limit = checkInt("limit", opts.limit ?? 100, 1, 1000);
    const after = opts.after == null ? 0 : Number(opts.after);
    if (!Number.isSafeInteger(after) || after < 0) throw new DeliveryError(DeliveryErrorCode.Invalid, "bad DLQ cursor");
    const entries = await this.#scan(after, limit + 1);
    const page = entries.slice(0, limit);
    return { items: page.map((e) => e.item), next: entries.length > limit ? String(page.at(-1)!.seq) : null };
  }

  /** Re-enqueues the selected entries through `republish`, then removes them; returns how many moved. */
  async replay(selection: "all" | readonly string[], republish: (d: DeadLetter, dlqSeq: number) => Promise<void>): Promise<number> {
    if (selection !== "all" && (!Array.isArray(selection) || selection.length > MAX_REPLAY_IDS)) {
      throw new DeliveryError(DeliveryErrorCode.Invalid, `replay takes 'all' or up to ${MAX_REPLAY_IDS} ids`);
    }
    let moved = 0;
    const one = async (item: DeadLetter, seq: number) => {
      await republish(item, seq);
      await this.#d.jsm.streams.deleteMessage(this.#d.streamName, seq, false).catch(() => false);
      moved++;
    };
    if (selection === "all") {
      let after = 0;
      for (;;) {
        const batch = await this.#scan(after, 500);
        for (const e of batch) await one(e.item, e.seq);
        if (batch.length < 500) break;
        after = batch.at(-1)!.seq;
      }
      return moved;
    }
    for (const id of new Set(selection)) {
      if (typeof id !== "string" || id.length === 0 || id.length > 256) throw new DeliveryError(DeliveryErrorCode.Invalid, "DLQ ids are 1..256 characters");
      const m = await this.#d.jsm.streams.getMessage(this.#d.streamName, { last_by_subj: `${this.#d.subjectPrefix}${idToken(id)}` }).catch(() => null);
      if (m === null) continue;
      await one(decodeDeadLetter(m.data, this.#d.maxRecordBytes), m.seq);
    }
    return moved;
  }

  /** Up to `max` entries with seq > after, via a short-lived ordered consumer. */
  async #scan(after: number, max: number): Promise<Array<{ seq: number; item: DeadLetter }>> {
    const d = this.#d;
    const info = await d.jsm.streams.info(d.streamName);
    if (info.state.messages === 0 || info.state.last_seq <= after) return [];
    const lastSeq = info.state.last_seq;
    const consumer = await d.js.consumers.get(d.streamName, {
      filter_subjects: `${d.subjectPrefix}*`,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(after + 1, info.state.first_seq),
    });
    const out: Array<{ seq: number; item: DeadLetter }> = [];
    const messages = await consumer.consume({ max_messages: Math.min(max, 256) });
    try {
      for await (const m of messages) {
        try {
          out.push({ seq: m.seq, item: decodeDeadLetter(m.data, d.maxRecordBytes) });
        } catch (e) {
          d.warn({ streamSeq: m.seq, err: String(e) }, "delivery: skipped a corrupt dead letter");
        }
        if (out.length >= max || m.seq >= lastSeq || m.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => {});
    }
    return out;
  }
}
