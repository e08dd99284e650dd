// Detects that the stream lost acknowledged messages (NATS-wide crash before fsync, or stream deleted and
// recreated) so the journal can re-publish what it retained. Signals: `created` changed, last_seq below the
// highest sequence we were acknowledged, a fresh PubAck far below it, or the stream holding someone else's record at
// the sequence our newest published record was acknowledged with (a lost tail that other nodes' publishes refilled).
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type PubAck, type StreamInfo } from "@nats-io/jetstream";
import type { Clock, TimerHandle } from "../runtime/clock.ts";
import { natsError } from "./errors.ts";
import type { ReplicationLog } from "./journal-options.ts";
import { ensureMailStream, type ResolvedStreamOptions } from "./stream.ts";

export interface StreamWatchOptions {
  jsm: JetStreamManager;
  clock: Clock;
  stream: ResolvedStreamOptions;
  intervalMs: number;
  /** `created` of the stream incarnation our retained entries were published to (persisted by the journal). */
  storedCreated: string | undefined;
  /** Highest acknowledged stream sequence among retained entries. */
  highestAcked: number;
  onCreated(created: string): void;
  /** Re-publish everything retained; rejects if interrupted (the watch then retries on its next check). */
  onLoss(reason: string): Promise<void>;
  /**
   * Our newest published records (stream seq and Nats-Msg-Id), newest first, at most `limit`: each check reads the
   * stream at those seqs. Omitted: no identity probe (sequence numbers only).
   */
  newestPublished?: (limit: number) => { streamSeq: number; dedupId: string }[];
  log: ReplicationLog | undefined;
}

/** Records probed per check; a probe stops at the first one found (ours or not), so usually one request. */
const IDENTITY_PROBES = 4;

function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;
}

export class StreamWatch {
  lossesDetected = 0;
  private created: string | undefined;
  private highestAcked: number;
  private checking: Promise<void> | null = null;
  private recovering: Promise<void> | null = null;
  /** A loss whose re-publish did not complete: retried on every check until it does. */
  private unrecovered: string | null = null;
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly o: StreamWatchOptions) {
    this.created = o.storedCreated;
    this.highestAcked = o.highestAcked;
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      this.check()
        .catch((e: unknown) => this.o.log?.warn({ err: e }, "replication: stream check failed"))
        .finally(() => this.start());
    }, this.o.intervalMs, { unref: true });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Inspects the stream (recreating it if missing); concurrent calls share one check. Rejects ReplicationError. */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  /**
   * Every PubAck passes here. Acks on one connection arrive in publish order, so a fresh (non-duplicate) ack
   * more than `toleranceSeqs` below the highest one means the stream went backwards.
   */
  observeAck(ack: PubAck, toleranceSeqs: number): void {
    if (ack.stream !== this.o.stream.streamName) return;
    if (!ack.duplicate && ack.seq + toleranceSeqs < this.highestAcked) {
      this.detected(`ack sequence ${ack.seq} below acknowledged ${this.highestAcked}`, ack.seq);
    } else if (ack.seq > this.highestAcked) this.highestAcked = ack.seq;
  }

  private async runCheck(): Promise<void> {
    let info: StreamInfo;
    try {
      info = await this.o.jsm.streams.info(this.o.stream.streamName);
    } catch (e) {
      if (!isStreamNotFound(e)) throw natsError("stream info failed", e);
      info = await ensureMailStream(this.o.jsm, this.o.stream);
    }
    const lastSeq = info.state.last_seq;
    if (this.created !== undefined && info.created !== this.created) this.detected("stream recreated", lastSeq);
    else if (lastSeq < this.highestAcked) this.detected(`last_seq ${lastSeq} below acknowledged ${this.highestAcked}`, lastSeq);
    else if (this.unrecovered === null && this.recovering === null) {
      const foreign = await this.probeIdentity(lastSeq);
      if (foreign !== null) this.detected(foreign, lastSeq);
    }
    if (info.created !== this.created) {
      this.created = info.created;
      this.o.onCreated(info.created);
    }
    if (this.unrecovered !== null) await this.recover();
  }

  /**
   * Sequence numbers alone miss a lost tail once other nodes' publishes carried last_seq past ours again (after a
   * NATS-wide crash every node relays at once). So read the stream at the seqs our newest records were acknowledged
   * with: a record with another Nats-Msg-Id there means the stream lost ours. Not found is no evidence (the owner
   * deletes confirmed records), so the next older one is tried. Returns the reason, or null.
   */
  private async probeIdentity(lastSeq: number): Promise<string | null> {
    const rows = this.o.newestPublished?.(IDENTITY_PROBES) ?? [];
    for (const row of rows) {
      if (row.streamSeq > lastSeq) return `acknowledged seq ${row.streamSeq} beyond last_seq ${lastSeq}`;
      let found;
      try {
        found = await this.o.jsm.streams.getMessage(this.o.stream.streamName, { seq: row.streamSeq });
      } catch (e) {
        // 2.9 may answer a deleted seq with an error rather than "no message found": the same non-evidence.
        if (!(e instanceof JetStreamApiError && !isStreamNotFound(e) && /not found|no message found/i.test(e.message))) {
          throw natsError("stream message get failed", e);
        }
        found = null;
      }
      if (found === null) continue;
      const msgId = found.header?.get("Nats-Msg-Id") ?? "";
      return msgId === row.dedupId ? null : `seq ${row.streamSeq} holds another record than the one acknowledged to us`;
    }
    return null;
  }

  private detected(reason: string, newBaseline: number): void {
    this.lossesDetected++;
    this.highestAcked = newBaseline; // re-published entries raise it again from the new baseline
    this.unrecovered = reason;
    void this.recover().catch((e: unknown) => this.o.log?.warn({ err: e }, "replication: re-publish failed; will retry"));
  }

  /** One re-publish at a time; a loss detected meanwhile leaves `unrecovered` set and runs again. */
  private async recover(): Promise<void> {
    while (this.recovering) await this.recovering.catch(() => {});
    const reason = this.unrecovered;
    if (reason === null) return;
    this.unrecovered = null;
    this.recovering = this.o.onLoss(reason).catch((e: unknown) => {
      this.unrecovered ??= reason;
      throw e;
    });
    try {
      await this.recovering;
    } finally {
      this.recovering = null;
    }
  }
}
