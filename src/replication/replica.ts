// PartitionReplica: the owner's view of one partition. An ordered consumer replays haven.mail.<p> from the
// first sequence into an idempotent sink (the owner's local store), reports when caught up, and deletes
// confirmed messages from the stream.
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sleep, systemClock, type Clock } from "../runtime/clock.ts";
import { boundedInt, natsError, ReplicationError, ReplicationErrorCode } from "./errors.ts";
import type { ReplicationLog } from "./journal-options.ts";
import { ProgressWatchdog } from "./progress-watchdog.ts";
import { decodeConfirmMarker, decodeRecord, encodeConfirmMarker, MAX_MARKER_IDS, MAX_PARTITION, type MailRecord } from "./record.ts";
import { DEFAULT_STREAM_NAME, mailSubject } from "./stream.ts";
import { Tombstones } from "./tombstones.ts";
import { TRACEPARENT_HEADER } from "../observability/trace-context.ts";
import { inRemoteSpan, tracingEnabled } from "../observability/tracing.ts";

/** Confirmation markers remembered for pruning; beyond this the oldest stay in the stream (harmless, only space). */
const MAX_MARKERS_TRACKED = 100_000;
/** Newest applied records remembered for the position check after a reconnect (usually one is read back). */
const POSITION_PROBES = 4;

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
  /**
   * Progress watchdog: how often a replica that received nothing since the last look compares what it
   * received with the subject's last stream seq. Default 1000, 50..60000.
   */
  stallCheckIntervalMs?: number;
  /**
   * Behind the subject's last seq with no progress for this long = stalled: the consumer is reopened from the
   * last received seq + 1. Default 2000, 100..600000.
   */
  stallTimeoutMs?: number;
  /**
   * JetStream API timeout of the watchdog's probe and of each attempt to reopen a stalled consumer; default
   * min(requestTimeoutMs, max(1000, stallCheckIntervalMs)), 50..120000. Short on purpose: while the stream elects
   * a new leader these requests go unanswered, and waiting the full requestTimeoutMs for each one delayed the
   * repair past the 2 s stall timeout by several seconds.
   */
  probeTimeoutMs?: number;
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
  /** Confirmation markers published by confirm(), failed to publish (best effort), and deleted by pruneMarkers(). */
  markersPublished: number;
  markerFailures: number;
  markersPruned: number;
  /** Times the progress watchdog reopened a stalled consumer. */
  consumerRestarts: number;
  /** Times a reconnect found the stream no longer holding what this replica applied (then it failed, to rebuild). */
  streamRollbacks: number;
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
    stallCheckIntervalMs: number;
    stallTimeoutMs: number;
    probeTimeoutMs: number;
  };
  private readonly tombstones: Tombstones;
  private jsm: JetStreamManager | null = null;
  /** Same API with probeTimeoutMs: the watchdog's "behind" question. */
  private probeJsm: JetStreamManager | null = null;
  private messages: ConsumerMessages | null = null;
  private state: "new" | "open" | "closed" = "new";
  private partitionNo = -1;
  private epochNo = -1;
  private targetSeq = 0;
  private appliedSeq = 0;
  private caught = false;
  private failure: ReplicationError | null = null;
  private readonly counters = { applied: 0, skippedConfirmed: 0, corrupt: 0, confirmed: 0, consumerRestarts: 0, streamRollbacks: 0, markersPublished: 0, markerFailures: 0, markersPruned: 0 };
  /** Confirmation markers seen on the subject (stream seq, stream time in wall ms), oldest first; pruned by the owner. */
  private readonly markers: { seq: number; atMs: number }[] = [];
  private caughtUpWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private loop: Promise<void> | null = null;
  /** Highest stream seq taken from the consumer (handed to the sink); a reopened consumer starts after it. */
  private receivedSeq = 0;
  private watchdog: ProgressWatchdog | null = null;
  /** Set by the watchdog: the current consumer's end is a restart, not a failure. */
  private restartRequested = false;
  /** run() is waiting for sink applies to settle (not for the consumer). */
  private applyBlocked = false;
  /** The newest mail records this replica took from the stream (seq, Nats-Msg-Id), oldest first. */
  private readonly recent: { seq: number; dedupId: string }[] = [];
  private verifying = false;
  private stopStatuses: () => void = () => {};

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
      stallCheckIntervalMs: boundedInt(options.stallCheckIntervalMs, 1000, 50, 60_000, "stallCheckIntervalMs"),
      stallTimeoutMs: boundedInt(options.stallTimeoutMs, 2000, 100, 600_000, "stallTimeoutMs"),
      probeTimeoutMs: 0,
    };
    this.o.probeTimeoutMs = boundedInt(
      options.probeTimeoutMs,
      Math.min(this.o.requestTimeoutMs, Math.max(1000, this.o.stallCheckIntervalMs)),
      50,
      120_000,
      "probeTimeoutMs",
    );
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
      this.probeJsm = await jetstreamManager(this.nc, { timeout: this.o.probeTimeoutMs, checkAPI: false });
      // The target: the last record of this partition now. Everything up to it must be applied before serving.
      const last = await this.jsm.streams.getMessage(this.o.streamName, { last_by_subj: subject });
      this.targetSeq = last?.seq ?? 0;
      if (this.targetSeq === 0) this.markCaughtUp();
      this.messages = await this.openConsumer(0, this.o.requestTimeoutMs);
    } catch (e) {
      this.state = "closed";
      throw natsError("could not open the partition replica", e);
    }
    this.loop = this.run(this.messages, sink);
    this.watchConnection();
    this.watchdog = new ProgressWatchdog({
      clock: this.o.clock,
      intervalMs: this.o.stallCheckIntervalMs,
      stallTimeoutMs: this.o.stallTimeoutMs,
      progress: () => this.receivedSeq + this.appliedSeq,
      behind: () => this.subjectAhead(),
      onStall: () => this.requestRestart(),
    });
    this.watchdog.start();
  }

  /**
   * An ordered consumer from `afterSeq + 1` (0 = from the first record). It is an R1 ephemeral living on one
   * server: if that server dies, nats.js only notices after two missed idle heartbeats and then retries a
   * consumer info that cannot be answered, so the stream (R3) survives but this consumer stalls. The
   * progress watchdog reopens it through this method.
   */
  private async openConsumer(afterSeq: number, timeoutMs: number): Promise<ConsumerMessages> {
    const subject = mailSubject(this.partitionNo);
    const js = jetstream(this.nc, { timeout: timeoutMs });
    const consumer = await js.consumers.get(
      this.o.streamName,
      afterSeq === 0
        ? { filter_subjects: subject, deliver_policy: DeliverPolicy.All }
        : { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 },
    );
    const messages = await consumer.consume({ max_messages: Math.min(1024, this.o.maxApplyInFlight * 2) });
    this.watchConsumer(messages);
    return messages;
  }

  /** True if the subject holds a record past what the consumer handed us; rejects if the stream cannot tell. */
  private async subjectAhead(): Promise<boolean> {
    if (this.state !== "open" || this.probeJsm === null || this.restartRequested || this.applyBlocked) return false;
    const last = await this.probeJsm.streams.getMessage(this.o.streamName, { last_by_subj: mailSubject(this.partitionNo) });
    return (last?.seq ?? 0) > this.receivedSeq;
  }

  /** Ends the current consumer; run() then reopens from receivedSeq + 1 (records already taken are not replayed). */
  private requestRestart(): void {
    if (this.state !== "open" || this.restartRequested) return;
    this.restartRequested = true;
    this.counters.consumerRestarts++;
    this.o.log?.warn(
      { partition: this.partitionNo, receivedSeq: this.receivedSeq, appliedSeq: this.appliedSeq },
      "replication: partition consumer stalled behind the stream; reopening it",
    );
    void this.messages?.close().catch(() => {});
  }

  /**
   * After NATS comes back, the stream may have lost its un-fsynced tail (all servers crashed: 2.9.10 fsyncs every
   * 60 s). The ordered consumer then resumes after our last seq and silently skips the records that journals
   * re-publish, or other nodes publish, into the seqs the stream lost. So read back our newest records: one
   * missing (and not confirmed) or replaced by another record means the stream went backwards, and the replica
   * fails so the owner rebuilds the partition from the stream (tombstones and markers keep confirmed ones out).
   */
  private watchConnection(): void {
    const statuses = this.nc.status();
    // The connection keeps every status listener until it is stopped: close() and fail() stop this one.
    this.stopStatuses = () => (statuses as { stop?: () => void }).stop?.();
    void (async () => {
      for await (const s of statuses) {
        if (this.state !== "open") return;
        if (s.type === "reconnect") void this.verifyPositionUntilAnswered();
      }
    })().catch(() => {});
  }

  private async verifyPositionUntilAnswered(): Promise<void> {
    if (this.verifying) return;
    this.verifying = true;
    try {
      while (this.state === "open") {
        try {
          const lost = await this.positionLost();
          if (lost !== null && this.state === "open") {
            this.counters.streamRollbacks++;
            this.fail(new ReplicationError(ReplicationErrorCode.StreamLost, `the stream went backwards: ${lost}`));
          }
          return;
        } catch (e) {
          this.o.log?.warn({ err: e, partition: this.partitionNo }, "replication: position check not answered yet; retrying");
          await sleep(this.o.clock, this.o.stallCheckIntervalMs);
        }
      }
    } finally {
      this.verifying = false;
    }
  }

  /** Why the stream no longer holds what we applied, or null; rejects when the stream cannot answer. */
  private async positionLost(): Promise<string | null> {
    const jsm = this.probeJsm;
    if (jsm === null) return null;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const r = this.recent[i]!;
      const m = await getIfPresent(jsm, this.o.streamName, r.seq);
      if (m === null) {
        if (this.tombstones.isConfirmed(r.dedupId, this.o.clock.monotonicMs())) continue; // deleted by design
        return `seq ${r.seq} is gone`;
      }
      return (m.header?.get("Nats-Msg-Id") ?? "") === r.dedupId ? null : `seq ${r.seq} holds another record`;
    }
    return null;
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
    const dedupIds: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < seqs.length) {
        const seq = seqs[next++]!;
        await deleteIfPresent(jsm, this.o.streamName, seq);
        const dedupId = this.tombstones.confirm(seq, this.o.clock.monotonicMs());
        if (dedupId !== undefined) dedupIds.push(dedupId);
        this.counters.confirmed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.confirmConcurrency, seqs.length) }, worker));
    await this.publishMarkers(dedupIds);
    return seqs.length;
  }

  /**
   * Tells every replica of this partition, present and future, which records were confirmed: this replica's
   * tombstones die with this node, and the next owner rebuilding the partition would otherwise apply a copy that a
   * journal re-publishes later. Best effort: the deletes already happened, so a failed marker only loses that
   * protection (counted and logged), never the confirmation.
   */
  private async publishMarkers(dedupIds: readonly string[]): Promise<void> {
    if (dedupIds.length === 0) return;
    const js = jetstream(this.nc, { timeout: this.o.requestTimeoutMs });
    for (let i = 0; i < dedupIds.length; i += MAX_MARKER_IDS) {
      const chunk = dedupIds.slice(i, i + MAX_MARKER_IDS);
      try {
        await js.publish(mailSubject(this.partitionNo), encodeConfirmMarker({ partition: this.partitionNo, dedupIds: chunk }));
        this.counters.markersPublished++;
      } catch (e) {
        this.counters.markerFailures++;
        this.o.log?.warn({ err: e, partition: this.partitionNo, ids: chunk.length }, "replication: could not publish a confirmation marker");
      }
    }
  }

  /**
   * Deletes confirmation markers older than `maxAgeMs` (by stream time): by then the journals that could re-publish
   * their records have pruned them. Only the owner calls this. Returns how many were deleted.
   */
  async pruneMarkers(nowMs: number, maxAgeMs: number): Promise<number> {
    if (this.state !== "open" || this.jsm === null) return 0;
    let pruned = 0;
    while (this.markers.length > 0 && this.markers[0]!.atMs <= nowMs - maxAgeMs) {
      const m = this.markers[0]!;
      await deleteIfPresent(this.jsm, this.o.streamName, m.seq);
      this.markers.shift();
      pruned++;
    }
    this.counters.markersPruned += pruned;
    return pruned;
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
    this.watchdog?.stop();
    this.stopStatuses();
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
      // Observed later through the queue (await queue.shift() / allSettled); without this handler a host closing
      // while applies are queued would surface as an unhandled rejection and kill the process.
      tail.catch(() => {});
      queue.push(tail as Promise<void>);
    };
    try {
      for (let current: ConsumerMessages | null = messages; current !== null; current = await this.reopenIfRequested()) {
        for await (const m of current) {
          if (this.state !== "open") break;
          const seq = m.seq;
          // A reopened consumer starts after receivedSeq; never hand the sink a record twice or out of order.
          if (seq <= this.receivedSeq) continue;
          this.receivedSeq = seq;
          const pending = m.info.pending;
          const marker = decodeConfirmMarker(m.data);
          if (marker !== null) {
            const nowMs = this.o.clock.monotonicMs();
            for (const id of marker.dedupIds) this.tombstones.confirmDedup(id, nowMs);
            if (this.markers.length < MAX_MARKERS_TRACKED) this.markers.push({ seq, atMs: Math.floor(m.info.timestampNanos / 1e6) });
            enqueue(seq, pending, null);
            this.applyBlocked = true;
            if (queue.length >= this.o.maxApplyInFlight) await queue.shift();
            if (!this.caught && (seq >= this.targetSeq || pending === 0)) while (queue.length > 0) await queue.shift();
            this.applyBlocked = false;
            continue;
          }
          let rec: MailRecord | null = null;
          try {
            rec = decodeRecord(m.data);
          } catch (e) {
            // Foreign or corrupt data on our subject: skip it (it cannot be delivered), but never silently.
            this.counters.corrupt++;
            this.o.log?.warn({ err: e, streamSeq: seq, partition: this.partitionNo }, "replication: skipped a corrupt record");
            enqueue(seq, pending, null);
          }
          if (rec !== null) {
            this.recent.push({ seq, dedupId: rec.dedupId });
            if (this.recent.length > POSITION_PROBES) this.recent.shift();
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
            // Live applies join the sender's trace (the journal put its traceparent on the record); a rebuild's
            // replay of old records makes no spans.
            const tp = this.caught && tracingEnabled() ? m.headers?.get(TRACEPARENT_HEADER) : undefined;
            const applied = tp ? inRemoteSpan("store", tp, () => sink.apply(r, seq)) : sink.apply(r, seq);
            enqueue(seq, pending, applied, () => {
              this.tombstones.track(seq, r.dedupId);
              this.counters.applied++;
            });
          }
          this.applyBlocked = true; // waiting on the sink is backpressure, not a stalled consumer
          if (queue.length >= this.o.maxApplyInFlight) await queue.shift();
          // At the catch-up point, wait for everything before declaring it (bounded by maxApplyInFlight).
          if (!this.caught && (seq >= this.targetSeq || pending === 0)) while (queue.length > 0) await queue.shift();
          this.applyBlocked = false;
        }
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
   * The current consumer ended: if the watchdog asked for it, open the next one from receivedSeq + 1,
   * retrying while JetStream elects leaders; otherwise null (run() fails). Attempts start at most once per check
   * interval, and each waits for an answer no longer than max(probe, stall) timeout (bounded by requestTimeoutMs),
   * so an unanswered attempt during an election costs seconds less than a full API timeout.
   */
  private async reopenIfRequested(): Promise<ConsumerMessages | null> {
    if (!this.restartRequested) return null;
    const attemptTimeoutMs = Math.min(this.o.requestTimeoutMs, Math.max(this.o.probeTimeoutMs, this.o.stallTimeoutMs));
    for (let attempt = 1; this.state === "open"; attempt++) {
      const startedMs = this.o.clock.monotonicMs();
      try {
        const next = await this.openConsumer(this.receivedSeq, attemptTimeoutMs);
        if (this.state !== "open") {
          await next.close().catch(() => {});
          return null;
        }
        this.messages = next;
        this.restartRequested = false;
        this.o.log?.info({ partition: this.partitionNo, fromSeq: this.receivedSeq + 1, attempt }, "replication: partition consumer reopened");
        return next;
      } catch (e) {
        this.o.log?.warn({ err: e, partition: this.partitionNo, attempt }, "replication: could not reopen the partition consumer; retrying");
        const waitMs = this.o.stallCheckIntervalMs - (this.o.clock.monotonicMs() - startedMs);
        if (waitMs > 0) await sleep(this.o.clock, waitMs);
      }
    }
    return null;
  }

  /**
   * The ordered consumer does not survive its stream being deleted (it stalls after "consumer_deleted"): the
   * records it would replay now live in a new stream incarnation, so fail and let the owner reopen (rebuild).
   */
  private watchConsumer(messages: ConsumerMessages): void {
    void (async () => {
      for await (const s of messages.status()) {
        if (this.state !== "open") return;
        if (messages !== this.messages || this.restartRequested) continue; // a consumer being replaced
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
    this.watchdog?.stop();
    this.stopStatuses();
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

/** One stored message by seq, or null when it is not there (deleted, or beyond the last seq). */
async function getIfPresent(jsm: JetStreamManager, stream: string, seq: number) {
  try {
    return await jsm.streams.getMessage(stream, { seq });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code !== JetStreamApiCodes.StreamNotFound && (GONE_CODES.has(e.code) || /not found|no message found/i.test(e.message))) return null;
    throw e;
  }
}

/** Deletes one message; "no such message/stream" means already gone, which is what we wanted. */
async function deleteIfPresent(jsm: JetStreamManager, stream: string, seq: number): Promise<void> {
  try {
    await jsm.streams.deleteMessage(stream, seq, false);
  } catch (e) {
    if (e instanceof JetStreamApiError && (GONE_CODES.has(e.code) || /not found|no message found/i.test(e.message))) return;
    throw natsError("could not delete a confirmed message", e);
  }
}
