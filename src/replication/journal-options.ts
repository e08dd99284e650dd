// Options of the ReplicatedJournal, with defaults and bounds (and the retention <= dedup window invariant).
import type { NatsConnection } from "@nats-io/transport-node";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { boundedInt, ReplicationError, ReplicationErrorCode } from "./errors.ts";
import { resolveStreamOptions, type MailStreamOptions, type ResolvedStreamOptions } from "./stream.ts";

/** pino-compatible subset, so src/observability's Logger plugs in directly. */
export interface ReplicationLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ReplicatedJournalOptions extends MailStreamOptions {
  nc: NatsConnection;
  /** Its own SQLite file, e.g. DATA_DIR/journal.sqlite. */
  journalPath: string;
  clock?: Clock;
  log?: ReplicationLog;
  /** PubAck wait per publish; default 2000, 50..60000. */
  publishTimeoutMs?: number;
  /** Published entries are kept this long for re-publish after a NATS-wide loss; default 120000 (> the 60 s fsync). */
  journalRetentionMs?: number;
  /** Entries re-published per relay round (pipelined); default 256, 1..4096. */
  relayBatch?: number;
  /** Relay retry backoff: doubles from min to max; defaults 100 / 5000 ms. */
  relayBackoffMinMs?: number;
  relayBackoffMaxMs?: number;
  /** How often the stream is checked for loss (last_seq rollback, recreation); default 1000, 100..600000. */
  streamCheckIntervalMs?: number;
  /** How often expired journal entries are pruned, and how many per round; defaults 1000 ms / 10000. */
  pruneIntervalMs?: number;
  pruneBatch?: number;
  /** Accepts in progress at once; more are refused with `overloaded`. Default 16384, 1..1000000. */
  maxInFlight?: number;
  /** Journal rows (outbox + retained); more accepts are refused with `overloaded`. Default 5000000. */
  maxJournalEntries?: number;
  /** Journal group commit batch cap; default 1024. */
  groupCommitMaxBatch?: number;
}

export interface ResolvedJournalOptions {
  nc: NatsConnection;
  journalPath: string;
  clock: Clock;
  log: ReplicationLog | undefined;
  stream: ResolvedStreamOptions;
  publishTimeoutMs: number;
  journalRetentionMs: number;
  relayBatch: number;
  relayBackoffMinMs: number;
  relayBackoffMaxMs: number;
  streamCheckIntervalMs: number;
  pruneIntervalMs: number;
  pruneBatch: number;
  maxInFlight: number;
  maxJournalEntries: number;
  groupCommitMaxBatch: number;
}

export function resolveJournalOptions(o: ReplicatedJournalOptions): ResolvedJournalOptions {
  const invalid = (m: string) => new ReplicationError(ReplicationErrorCode.InvalidArgument, m);
  if (typeof o !== "object" || o === null || typeof o.nc !== "object" || o.nc === null) throw invalid("nc is required");
  if (typeof o.journalPath !== "string" || o.journalPath.length === 0) throw invalid("journalPath is required");
  const stream = resolveStreamOptions(o);
  const r: ResolvedJournalOptions = {
    nc: o.nc,
    journalPath: o.journalPath,
    clock: o.clock ?? systemClock,
    log: o.log,
    stream,
    publishTimeoutMs: boundedInt(o.publishTimeoutMs, 2000, 50, 60_000, "publishTimeoutMs"),
    journalRetentionMs: boundedInt(o.journalRetentionMs, 120_000, 0, 86_400_000, "journalRetentionMs"),
    relayBatch: boundedInt(o.relayBatch, 256, 1, 4096, "relayBatch"),
    relayBackoffMinMs: boundedInt(o.relayBackoffMinMs, 100, 1, 60_000, "relayBackoffMinMs"),
    relayBackoffMaxMs: boundedInt(o.relayBackoffMaxMs, 5000, 1, 600_000, "relayBackoffMaxMs"),
    streamCheckIntervalMs: boundedInt(o.streamCheckIntervalMs, 1000, 100, 600_000, "streamCheckIntervalMs"),
    pruneIntervalMs: boundedInt(o.pruneIntervalMs, 1000, 10, 600_000, "pruneIntervalMs"),
    pruneBatch: boundedInt(o.pruneBatch, 10_000, 1, 1_000_000, "pruneBatch"),
    maxInFlight: boundedInt(o.maxInFlight, 16_384, 1, 1_000_000, "maxInFlight"),
    maxJournalEntries: boundedInt(o.maxJournalEntries, 5_000_000, 1, 100_000_000, "maxJournalEntries"),
    groupCommitMaxBatch: boundedInt(o.groupCommitMaxBatch, 1024, 1, 10_000, "groupCommitMaxBatch"),
  };
  if (r.relayBackoffMinMs > r.relayBackoffMaxMs) throw invalid("relayBackoffMinMs must be <= relayBackoffMaxMs");
  // A re-published survivor must still be inside the stream's duplicate window, or it would be stored twice.
  if (r.journalRetentionMs > stream.dedupWindowMs) throw invalid("journalRetentionMs must be <= dedupWindowMs");
  return r;
}
