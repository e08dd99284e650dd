// Typed replication errors: a stable `code`, whether retrying can help, and the underlying cause.

export const ReplicationErrorCode = {
  /** An argument or option is out of bounds (a caller bug). */
  InvalidArgument: "invalid_argument",
  /** A record read from the stream or the journal does not decode (foreign or corrupt data). */
  CorruptRecord: "corrupt_record",
  /** The local journal failed (I/O, disk full): the record is NOT durable. */
  JournalUnavailable: "journal_unavailable",
  /** NATS / JetStream failed or timed out. */
  NatsUnavailable: "nats_unavailable",
  /** Too many accepts in flight; shed load and retry later. */
  Overloaded: "overloaded",
  /** The component was closed. */
  Closed: "closed",
  /** The sink rejected a record while rebuilding a partition. */
  SinkFailed: "sink_failed",
  /** The stream no longer holds records this replica applied (it went backwards): rebuild from the stream. */
  StreamLost: "stream_lost",
} as const;
export type ReplicationErrorCode = (typeof ReplicationErrorCode)[keyof typeof ReplicationErrorCode];

const RETRYABLE: ReadonlySet<ReplicationErrorCode> = new Set([
  ReplicationErrorCode.JournalUnavailable,
  ReplicationErrorCode.NatsUnavailable,
  ReplicationErrorCode.Overloaded,
  ReplicationErrorCode.SinkFailed,
  ReplicationErrorCode.StreamLost,
]);

/** The only error type src/replication rejects with. Messages never contain payloads or DIDs. */
export class ReplicationError extends Error {
  override readonly name = "ReplicationError";
  readonly code: ReplicationErrorCode;
  readonly retryable: boolean;

  constructor(code: ReplicationErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? RETRYABLE.has(code);
  }
}

export function isReplicationError(e: unknown): e is ReplicationError {
  return e instanceof ReplicationError;
}

/** Wraps anything thrown by the NATS client into a retryable ReplicationError (keeps an existing one). */
export function natsError(message: string, cause: unknown): ReplicationError {
  if (cause instanceof ReplicationError) return cause;
  return new ReplicationError(ReplicationErrorCode.NatsUnavailable, message, { cause });
}

/** Integer option with a default and inclusive bounds; throws InvalidArgument naming the field. */
export function boundedInt(value: number | undefined, fallback: number, min: number, max: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ReplicationError(ReplicationErrorCode.InvalidArgument, `${field} must be an integer in ${min}..${max}`);
  }
  return v;
}
