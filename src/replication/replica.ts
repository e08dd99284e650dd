// PartitionReplica: the owner's view of one partition. An ordered consumer replays haven.mail.<p> from the
// first sequence into an idempotent sink (the owner's local store), reports when caught up, and deletes
// confirmed messages from the stream.
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { boundedInt, natsError, ReplicationError, ReplicationErrorCode } from "./errors.ts";
import type { ReplicationLog } from "./journal-options.ts";
import { decodeRecord, MAX_PARTITION, type MailRecord } from "./record.ts";
import { DEFAULT_STREAM_NAME, mailSubject } from "./stream.ts";
import { Tombstones } from "./tombstones.ts";

export interface ReplicaSink {
  /**
   * Called in stream order. Calls are issued without waiting for the previous one to settle (up to
   * maxApplyInFlight), so the sink must apply in call order (StorageDriver writes do). Must be idempotent:
   * a rebuild replays every record still in the stream. A rejection stops the replica (see `failure`).
   */
  apply(rec: MailRecord, streamSeq: number): Promise<void>;
}

export interface PartitionReplicaOptions {
  nc: NatsConnection;
  streamName?: string;
  clock?: Clock;
  log?: ReplicationLog;
  /** Sink applies outstanding at once; default 256, 1..10000. */
  maxApplyInFlight?: number;
  /** Parallel delete requests in confirm(); default 64, 1..1024. */
  confirmConcurrency?: number;
  /** Seqs per confirm() call; default 1000, 1..100000. */
  maxConfirmBatch?: number;
  /** How long a confirmed record is remembered (ignored if re-published); default 300000. */
  tombstoneTtlMs?: number;
  maxTracked?: number;
  maxTombstones?: number;
  /** Share one instance across reopen of the same partition so confirmations outlive a rebuild. */
  tombstones?: Tombstones;
  /** JetStream API timeout; default 5000. */
  requestTimeoutMs?: number;
}

export interface ReplicaStatus {
  partition: number;
  epoch: number;
  caughtUp: boolean;
  /** Highest stream seq whose apply resolved. */
  appliedSeq: number;
  applied: number;
  skippedConfirmed: number;
  corrupt: number;
  confirmed: number;
  failure: ReplicationError | null;
}

export class PartitionReplica {
  private readonly o: {
    streamName: string;
    clock: Clock;
    log: ReplicationLog | undefined;
    maxApplyInFlight: number;
    confirmConcurrency: number;
    maxConfirmBatch: number;
    requestTimeoutMs: number;
  };
  private readonly tombstones: Tombstones;
  private jsm: JetStreamManager | null = null;
  private messages: ConsumerMessages | null = null;
  private state: "new" | "open" | "closed" = "new";
  private partitionNo = -1;
  private epochNo = -1;
  private targetSeq = 0;
  private appliedSeq = 0;
  private caught = false;
  private failure: ReplicationError | null = null;
  private readonly counters = { applied: 0, skippedConfirmed: 0, corrupt: 0, confirmed: 0 };
  private caughtUpWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private loop: Promise<void> | null = null;

  constructor(private readonly nc: NatsConnection, options: Omit<PartitionReplicaOptions, "nc"> = {}) {
    const streamName = options.streamName ?? DEFAULT_STREAM_NAME;
    this.o = {
      streamName,
      clock: options.clock ?? systemClock,
      log: options.log,
      maxApplyInFlight: boundedInt(options.maxApplyInFlight, 256, 1, 10_000, "maxApplyInFlight"),
      confirmConcurrency: boundedInt(options.confirmConcurrency, 64, 1, 1024, "confirmConcurrency"),
      maxConfirmBatch: boundedInt(options.maxConfirmBatch, 1000, 1, 100_000, "maxConfirmBatch"),
      requestTimeoutMs: boundedInt(options.requestTimeoutMs, 5000, 100, 120_000, "requestTimeoutMs"),
    };
    this.tombstones = options.tombstones ?? new Tombstones(
      boundedInt(options.tombstoneTtlMs, 300_000, 0, 86_400_000, "tombstoneTtlMs"),
      boundedInt(options.maxTracked, 1_000_000, 1, 100_000_000, "maxTracked"),
      boundedInt(options.maxTombstones, 1_000_000, 1, 100_000_000, "maxTombstones"),
    );
  }

  /** Convenience: construct and open. */
  static async open(options: PartitionReplicaOptions, partition: number, epoch: number, sink: ReplicaSink): Promise<PartitionReplica> {
    const r = new PartitionReplica(options.nc, options);
    await r.open(partition, epoch, sink);
    return r;
  }

  get partition(): number {
    return this.partitionNo;
  }

  get epoch(): number {
    return this.epochNo;
  }

  /** True once every record that was in the stream at open time has been applied. */
  get caughtUp(): boolean {
    return this.caught;
  }

  /**
   * Starts replaying from the first sequence. Resolves once the consumer runs (not when caught up: see
   * whenCaughtUp). Rejects ReplicationError if NATS is unreachable.
   */
  async open(partition: number, epoch: number, sink: ReplicaSink): Promise<void> {
    if (this.state !== "new") throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "a replica opens once");
    if (!Number.isInteger(partition) || partition < 0 || partition > MAX_PARTITION) {
      throw new ReplicationError(ReplicationErrorCode.InvalidArgument, `partition must be an integer in 0..${MAX_PARTITION}`);
    }
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "epoch must be a non-negative safe integer");
    }
    if (typeof sink?.apply !== "function") throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "sink.apply is required");
    this.state = "open";
    this.partitionNo = partition;
    this.epochNo = epoch;
    const subject = mailSubject(partition);
    try {
      this.jsm = await jetstreamManager(this.nc, { timeout: this.o.requestTimeoutMs, checkAPI: false });
      // The target: the last record of this partition now. Everything up to it must be applied before serving.
      const last = await this.jsm.streams.getMessage(this.o.streamName, { last_by_subj: subject });
      this.targetSeq = last?.seq ?? 0;
      if (this.targetSeq === 0) this.markCaughtUp();
      const js = jetstream(this.nc, { timeout: this.o.requestTimeoutMs });
      const consumer = await js.consumers.get(this.o.streamName, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
      this.messages = await consumer.consume({ max_messages: Math.min(1024, this.o.maxApplyInFlight * 2) });
    } catch (e) {
      this.state = "closed";
      throw natsError("could not open the partition replica", e);
    }
    this.loop = this.run(this.messages, sink);
    this.watchConsumer(this.messages);
  }

  /** Resolves when caught up; rejects if the replica fails or closes first. */
  whenCaughtUp(): Promise<void> {
    if (this.caught) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (this.state === "closed") return Promise.reject(new ReplicationError(ReplicationErrorCode.Closed, "replica closed"));
    return new Promise((resolve, reject) => this.caughtUpWaiters.push({ resolve, reject }));
  }

  /**
   * The recipient confirmed these messages (messages-received): delete them from the stream. Already deleted
   * ones count as done. Resolves the number of seqs handled; rejects ReplicationError on NATS failure.
   */
  async confirm(streamSeqs: readonly number[]): Promise<number> {
    if (this.state !== "open" || this.jsm === null) throw new ReplicationError(ReplicationErrorCode.Closed, "replica is not open");
    if (!Array.isArray(streamSeqs) || streamSeqs.length > this.o.maxConfirmBatch) {
      throw new ReplicationError(ReplicationErrorCode.InvalidArgument, `confirm takes at most ${this.o.maxConfirmBatch} seqs`);
    }
    for (const s of streamSeqs) {
      if (!Number.isSafeInteger(s) || s <= 0) throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "stream seqs are positive integers");
    }
    const jsm = this.jsm;
    const seqs = [...new Set(streamSeqs)];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < seqs.length) {
        const seq = seqs[next++]!;
        await deleteIfPresent(jsm, this.o.streamName, seq);
        this.tombstones.confirm(seq, this.o.clock.monotonicMs());
        this.counters.confirmed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.confirmConcurrency, seqs.length) }, worker));
    return seqs.length;
  }

  status(): ReplicaStatus {
    return {
      partition: this.partitionNo,
      epoch: this.epochNo,
      caughtUp: this.caught,
      appliedSeq: this.appliedSeq,
      ...this.counters,
      failure: this.failure,
    };
  }

  /** Stops the consumer and waits for in-flight applies to settle. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    try {
      await this.messages?.close();
    } catch {
      // closing a consumer on a dead connection: nothing left to release
    }
    await this.loop?.catch(() => {});
    this.rejectWaiters(new ReplicationError(ReplicationErrorCode.Closed, "replica closed"));
  }

  private async run(messages: ConsumerMessages, sink: ReplicaSink): Promise<void> {
    // Applies are issued in stream order; each queue entry settles after its predecessor, so appliedSeq only
    // advances over a prefix that has been fully applied.
    const queue: Promise<void>[] = [];
    let tail: Promise<unknown> = Promise.resolve();
    const enqueue = (seq: number, pending: number, work: Promise<void> | null, onDone?: () => void): void => {
      tail = (work === null ? tail : Promise.all([tail, work])).then(() => {
        onDone?.();
        this.afterApplied(seq, pending);
      });
      queue.push(tail as Promise<void>);
    };
    try {
      for await (const m of messages) {
        if (this.state !== "open") break;
        const seq = m.seq;
        const pending = m.info.pending;
        let rec: MailRecord | null = null;
        try {
          rec = decodeRecord(m.data);
        } catch (e) {
          // Foreign or corrupt data on our subject: skip it (it cannot be delivered), but never silently.
          this.counters.corrupt++;
          this.o.log?.warn({ err: e, streamSeq: seq, partition: this.partitionNo }, "replication: skipped a corrupt record");
          enqueue(seq, pending, null);
        }
        if (rec === null) {
          // corrupt: already queued as skipped
        } else if (this.tombstones.isConfirmed(rec.dedupId, this.o.clock.monotonicMs())) {
          // Re-published after a loss, but the recipient already confirmed it: drop it from the stream again.
          this.counters.skippedConfirmed++;
          void deleteIfPresent(this.jsm!, this.o.streamName, seq).catch(() => {});
          enqueue(seq, pending, null);
        } else {
          const r = rec;
          enqueue(seq, pending, sink.apply(r, seq), () => {
            this.tombstones.track(seq, r.dedupId);
            this.counters.applied++;
          });
        }
        if (queue.length >= this.o.maxApplyInFlight) await queue.shift();
        // At the catch-up point, wait for everything before declaring it (bounded by maxApplyInFlight).
        if (!this.caught && (seq >= this.targetSeq || pending === 0)) while (queue.length > 0) await queue.shift();
      }
      while (queue.length > 0) await queue.shift();
    } catch (e) {
      this.fail(new ReplicationError(ReplicationErrorCode.SinkFailed, "partition replica stopped", { cause: e }));
      await Promise.allSettled(queue);
      return;
    }
    if (this.state === "open") this.fail(natsError("partition consumer ended unexpectedly", undefined));
  }

  /**
   * The ordered consumer does not survive its stream being deleted (it stalls after "consumer_deleted"): the
   * records it would replay now live in a new stream incarnation, so fail and let the owner reopen (rebuild).
   */
  private watchConsumer(messages: ConsumerMessages): void {
    void (async () => {
      for await (const s of messages.status()) {
        if (this.state !== "open") return;
        if (s.type === "consumer_deleted" || s.type === "stream_not_found") {
          this.fail(natsError(`partition consumer lost (${s.type}); reopen to rebuild`, undefined));
          return;
        }
      }
    })().catch(() => {});
  }

  private afterApplied(seq: number, pending: number): void {
    if (seq > this.appliedSeq) this.appliedSeq = seq;
    if (!this.caught && (this.appliedSeq >= this.targetSeq || pending === 0)) this.markCaughtUp();
  }

  private markCaughtUp(): void {
    this.caught = true;
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private fail(e: ReplicationError): void {
    this.failure = e;
    this.o.log?.warn({ err: e, partition: this.partitionNo }, "replication: partition replica failed; reopen to rebuild");
    this.state = "closed";
    void this.messages?.close().catch(() => {});
    this.rejectWaiters(e);
  }

  private rejectWaiters(e: ReplicationError): void {
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const w of waiters) w.reject(e);
  }
}

/** 2.9 answers an already deleted seq with 10043 "sequence N not found" or 10057 "no message found" (first seq), hence the text check. */
const GONE_CODES: ReadonlySet<number> = new Set([JetStreamApiCodes.NoMessageFound, JetStreamApiCodes.StreamNotFound]);

/** Deletes one message; "no such message/stream" means already gone, which is what we wanted. */
async function deleteIfPresent(jsm: JetStreamManager, stream: string, seq: number): Promise<void> {
  try {
    await jsm.streams.deleteMessage(stream, seq, false);
  } catch (e) {
    if (e instanceof JetStreamApiError && (GONE_CODES.has(e.code) || /not found|no message found/i.test(e.message))) return;
    throw natsError("could not delete a confirmed message", e);
  }
}
