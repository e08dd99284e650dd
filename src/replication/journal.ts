// ReplicatedJournal: the accept path. Journal locally (group commit) and publish to JetStream in parallel;
// while NATS is unreachable accept into the local outbox and relay in order when it returns.
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { TRACEPARENT_HEADER } from "../observability/trace-context.ts";
import { currentTraceparent, inSpan } from "../observability/tracing.ts";
import type { TimerHandle } from "../runtime/clock.ts";
import { natsError, ReplicationError, ReplicationErrorCode } from "./errors.ts";
import { JournalStore, type JournalRow } from "./journal-store.ts";
import { resolveJournalOptions, type ReplicatedJournalOptions, type ResolvedJournalOptions } from "./journal-options.ts";
import { checkRecord, encodeRecord, type MailRecord } from "./record.ts";
import { ensureMailStream, mailSubject } from "./stream.ts";
import { StreamWatch } from "./stream-watch.ts";

export type AcceptResult = "replicated" | "journaled";

export interface JournalStatus {
  /** Journaled records not yet acknowledged by JetStream. */
  outboxSize: number;
  /** True while accepts go to the local outbox only (NATS unreachable or outbox draining). */
  degraded: boolean;
  /** Rows in the journal (outbox + retained published entries). */
  journalSize: number;
  inFlight: number;
  replicated: number;
  journaled: number;
  relayed: number;
  republished: number;
  lossesDetected: number;
  /**
   * When the oldest outbox entry was accepted (clock.nowMs), null when the outbox is empty. Entries are kept in the
   * order they entered the outbox, which may differ from accept order by at most one publish timeout.
   */
  oldestPendingAtMs: number | null;
}

/** Hooks for metrics: called synchronously on every JetStream publish outcome (keep them cheap). */
export interface JournalObserver {
  /** A publish was acknowledged after `seconds` (direct accepts, relays and re-publishes alike). */
  published?(seconds: number): void;
  /** A publish failed or timed out after `seconds`. */
  publishFailed?(seconds: number): void;
}


const META_STREAM_CREATED = "stream_created";

export class ReplicatedJournal {
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly watch: StreamWatch;
  /**
   * Journal seqs whose record is durable locally but not acknowledged by JetStream, and the relay may send, with
   * the time each was accepted (insertion order = outbox order, so the first entry is the oldest).
   */
  private readonly outbox = new Map<number, number>();
  private readonly observers = new Set<JournalObserver>();
  /** Degraded accepts whose journal write has not committed yet (not yet in `outbox`). */
  private appendsInFlight = 0;
  private inFlight = 0;
  private journalRows: number;
  private degraded = false;
  private relaying = false;
  /**
   * Set while NATS was away (and at open until a check succeeded): the relay first checks the stream for lost
   * records, so this node's publishes cannot refill a lost tail before the loss is seen.
   */
  private lossCheckOwed = true;
  private relayTimer: TimerHandle | null = null;
  private backoffMs: number;
  private pruneTimer: TimerHandle | null = null;
  private closed = false;
  private readonly counters = { replicated: 0, journaled: 0, relayed: 0, republished: 0 };

  private constructor(
    private readonly o: ResolvedJournalOptions,
    private readonly store: JournalStore,
    jsm: JetStreamManager,
  ) {
    this.js = jetstream(o.nc, { timeout: o.publishTimeoutMs });
    this.jsm = jsm;
    this.backoffMs = o.relayBackoffMinMs;
    this.journalRows = store.size();
    for (const e of store.pendingEntries()) this.outbox.set(e.seq, e.acceptedAtMs);
    this.degraded = this.outbox.size > 0;
    this.watch = new StreamWatch({
      jsm,
      clock: o.clock,
      stream: o.stream,
      intervalMs: o.streamCheckIntervalMs,
      storedCreated: store.meta(META_STREAM_CREATED),
      highestAcked: store.highestStreamSeq(),
      onCreated: (created) => void this.store.setMeta(META_STREAM_CREATED, created).catch(() => {}),
      onLoss: (reason) => this.republishRetained(reason),
      newestPublished: (limit) => this.store.newestPublished(limit),
      log: o.log,
    });
  }

  /** Opens the journal file; ensures the stream if NATS is reachable (else starts degraded and retries). */
  static async open(options: ReplicatedJournalOptions): Promise<ReplicatedJournal> {
    const o = resolveJournalOptions(options);
    const store = new JournalStore({ path: o.journalPath, groupCommitMaxBatch: o.groupCommitMaxBatch }, o.clock.nowMs());
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(o.nc, { timeout: o.publishTimeoutMs, checkAPI: false });
    } catch (e) {
      store.close();
      throw natsError("could not create the JetStream manager", e);
    }
    const j = new ReplicatedJournal(o, store, jsm);
    try {
      await ensureMailStream(jsm, o.stream);
      await j.watch.check();
      j.lossCheckOwed = false;
    } catch (e) {
      o.log?.warn({ err: e }, "replication: NATS not reachable at open; accepting into the local outbox");
      j.enterDegraded();
    }
    j.watch.start();
    j.followConnection();
    j.schedulePrune();
    if (j.degraded) j.kickRelay();
    return j;
  }

  /**
   * Durable when resolved: "replicated" = journaled and acknowledged by JetStream; "journaled" = in the local
   * outbox only (NATS unreachable), to be relayed. Rejects ReplicationError (journal failure, overload, closed).
   */
  async accept(rec: MailRecord): Promise<AcceptResult> {
    if (this.closed) throw new ReplicationError(ReplicationErrorCode.Closed, "journal is closed");
    checkRecord(rec);
    if (this.inFlight >= this.o.maxInFlight || this.journalRows >= this.o.maxJournalEntries) {
      throw new ReplicationError(ReplicationErrorCode.Overloaded, "too many accepts in flight or journal full");
    }
    const subject = mailSubject(rec.partition);
    const data = encodeRecord(rec);
    const nowMs = this.o.clock.nowMs();
    this.inFlight++;
    this.journalRows++;
    try {
      if (this.degraded) return await this.acceptJournalOnly(rec.dedupId, subject, data, nowMs);
      // Both in parallel: one round trip of latency instead of two. A publish whose journal write then fails is
      // rejected to the caller and its retry is deduplicated by Nats-Msg-Id.
      const appended = this.store.append(rec.dedupId, subject, data, nowMs);
      const published = inSpan("replicate", () => this.publish(subject, data, rec.dedupId, currentTraceparent())).then(
        (ack) => ack,
        (e: unknown) => e as Error,
      );
      let seq: number;
      try {
        seq = await appended;
      } catch (e) {
        this.journalRows--;
        throw e;
      }
      const ack = await published;
      if (ack instanceof Error) {
        this.outbox.set(seq, nowMs);
        this.counters.journaled++;
        this.enterDegraded();
        this.o.log?.warn({ err: ack }, "replication: publish failed; record kept in the local outbox");
        return "journaled";
      }
      this.onAcked(seq, ack);
      this.counters.replicated++;
      return "replicated";
    } finally {
      this.inFlight--;
    }
  }

  status(): JournalStatus {
    return {
      outboxSize: this.outbox.size + this.appendsInFlight,
      degraded: this.degraded,
      journalSize: this.journalRows,
      inFlight: this.inFlight,
      ...this.counters,
      lossesDetected: this.watch.lossesDetected,
      oldestPendingAtMs: this.outbox.size === 0 ? null : this.outbox.values().next().value!,
    };
  }

  /** Registers publish hooks (metrics); returns their removal. */
  observe(observer: JournalObserver): () => void {
    this.observers.add(observer);
    return () => void this.observers.delete(observer);
  }

  /** Checks the stream for loss now (also runs periodically and on reconnect). */
  checkStream(): Promise<void> {
    return this.watch.check();
  }

  /** Stops timers, waits for nothing further; pending outbox entries stay durable for the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.observers.clear();
    this.watch.stop();
    if (this.relayTimer) this.o.clock.clearTimeout(this.relayTimer);
    if (this.pruneTimer) this.o.clock.clearTimeout(this.pruneTimer);
    this.store.close();
  }

  private async acceptJournalOnly(dedupId: string, subject: string, data: Uint8Array, nowMs: number): Promise<AcceptResult> {
    this.appendsInFlight++;
    try {
      const seq = await this.store.append(dedupId, subject, data, nowMs);
      this.outbox.set(seq, nowMs);
      this.counters.journaled++;
      this.kickRelay();
      return "journaled";
    } catch (e) {
      this.journalRows--;
      throw e;
    } finally {
      this.appendsInFlight--;
    }
  }

  /** `traceparent` (tracing on, direct accepts only) lets the owner's "store" span join the sender's trace. */
  private publish(subject: string, data: Uint8Array, msgID: string, traceparent?: string): Promise<PubAck> {
    let headers: MsgHdrs | undefined;
    if (traceparent !== undefined) {
      headers = natsHeaders();
      headers.set(TRACEPARENT_HEADER, traceparent);
    }
    const sent = this.js.publish(subject, data, { msgID, timeout: this.o.publishTimeoutMs, ...(headers ? { headers } : {}) });
    if (this.observers.size === 0) return sent;
    const t0 = performance.now();
    return sent.then(
      (ack) => {
        const s = (performance.now() - t0) / 1000;
        for (const ob of this.observers) ob.published?.(s);
        return ack;
      },
      (e: unknown) => {
        const s = (performance.now() - t0) / 1000;
        for (const ob of this.observers) ob.publishFailed?.(s);
        throw e;
      },
    );
  }

  private onAcked(seq: number, ack: PubAck): void {
    this.watch.observeAck(ack, this.inFlight);
    this.store.markPublished(seq, ack.seq, this.o.clock.nowMs()).catch((e: unknown) => {
      // Only bookkeeping: the entry stays "pending" and is re-published (deduplicated) after a restart.
      this.o.log?.warn({ err: e }, "replication: could not record a PubAck in the journal");
    });
  }

  private enterDegraded(): void {
    if (!this.degraded) this.o.log?.warn({}, "replication: degraded, accepting into the local outbox");
    this.degraded = true;
    this.kickRelay();
  }

  private followConnection(): void {
    void (async () => {
      for await (const s of this.o.nc.status()) {
        if (this.closed) return;
        if (s.type === "disconnect") {
          this.lossCheckOwed = true;
          this.enterDegraded();
        }
        else if (s.type === "reconnect") {
          // Check for loss first (a NATS restart may have dropped un-fsynced messages), then drain the outbox.
          this.watch.check().catch(() => {});
          this.backoffMs = this.o.relayBackoffMinMs;
          this.kickRelay(0, true);
        }
      }
    })().catch(() => {});
  }

  /**
   * Schedules the relay after `delayMs` unless it is running or already scheduled; `force` replaces a pending
   * (backoff) timer, used when NATS just came back.
   */
  private kickRelay(delayMs = 0, force = false): void {
    if (this.closed || this.relaying) return;
    if (this.relayTimer) {
      if (!force) return;
      this.o.clock.clearTimeout(this.relayTimer);
    }
    this.relayTimer = this.o.clock.setTimeout(() => {
      this.relayTimer = null;
      void this.relay();
    }, delayMs, { unref: true });
  }

  /** Re-publishes outbox entries in journal order, one pipelined batch at a time; leaves degraded when empty. */
  private async relay(): Promise<void> {
    if (this.relaying || this.closed) return;
    this.relaying = true;
    let failed = false;
    try {
      if (this.lossCheckOwed) {
        await this.watch.check(); // rejects while the stream is unreachable: the relay backs off and retries
        this.lossCheckOwed = false;
      }
      let cursor = 0;
      while (!this.closed && this.outbox.size > 0) {
        const rows = this.store.pending(cursor, this.o.relayBatch);
        if (rows.length === 0) {
          if (cursor === 0) break; // outbox seqs not visible yet: the committing accept kicks us again
          cursor = 0; // a failed direct publish added a seq behind the cursor: start over
          continue;
        }
        cursor = rows[rows.length - 1]!.seq;
        const batch = rows.filter((r) => this.outbox.has(r.seq));
        if (!(await this.publishRows(batch, "relayed"))) {
          failed = true;
          break;
        }
      }
    } catch (e) {
      failed = true;
      this.o.log?.warn({ err: e }, "replication: relay round failed");
    } finally {
      this.relaying = false;
    }
    if (this.closed) return;
    if (failed) {
      this.kickRelay(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, this.o.relayBackoffMaxMs);
      return;
    }
    this.backoffMs = this.o.relayBackoffMinMs;
    if (this.outbox.size === 0 && this.appendsInFlight === 0) {
      if (this.degraded) this.o.log?.info({}, "replication: outbox drained, back to direct publishing");
      this.degraded = false;
    } else if (this.outbox.size > 0) {
      this.kickRelay(this.o.relayBackoffMinMs);
    }
  }

  /** Publishes rows concurrently (order of sending = row order); true if every one was acknowledged. */
  private async publishRows(rows: readonly JournalRow[], counter: "relayed" | "republished"): Promise<boolean> {
    const acks = await Promise.allSettled(rows.map((r) => this.publish(r.subject, r.data, r.dedupId)));
    let ok = true;
    acks.forEach((a, i) => {
      const row = rows[i]!;
      if (a.status === "fulfilled") {
        this.outbox.delete(row.seq);
        this.onAcked(row.seq, a.value);
        this.counters[counter]++;
      } else ok = false;
    });
    return ok;
  }

  /** After a detected loss: every retained (published, not yet pruned) entry again, in journal order. */
  private async republishRetained(reason: string): Promise<void> {
    this.o.log?.warn({ reason }, "replication: stream lost messages; re-publishing the retained journal");
    let cursor = 0;
    for (;;) {
      const rows = this.store.retained(cursor, this.o.relayBatch);
      if (rows.length === 0) return;
      cursor = rows[rows.length - 1]!.seq;
      if (!(await this.publishRows(rows, "republished"))) {
        throw new ReplicationError(ReplicationErrorCode.NatsUnavailable, "re-publish interrupted");
      }
    }
  }


  private schedulePrune(): void {
    this.pruneTimer = this.o.clock.setTimeout(() => {
      this.pruneTimer = null;
      if (this.closed) return;
      const cutoffMs = this.o.clock.nowMs() - this.o.journalRetentionMs;
      this.store
        .pruneOlderThan(cutoffMs, this.o.pruneBatch)
        .then((n) => {
          this.journalRows -= n;
        })
        .catch((e: unknown) => this.o.log?.warn({ err: e }, "replication: journal prune failed"))
        .finally(() => {
          if (!this.closed) this.schedulePrune();
        });
    }, this.o.pruneIntervalMs, { unref: true });
  }
}
