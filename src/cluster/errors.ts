// Typed errors of the cluster layer (routing, RPC): a stable `code`, whether retrying can help, and the cause.

export const ClusterErrorCode = {
  /** A request got no answer in time (owner busy, dead, or NATS slow). */
  Timeout: "timeout",
  /** Nobody listens on the subject (the node is gone or not started yet). */
  NoResponders: "no_responders",
  /** The addressed node does not (or no longer) serve the partition. */
  NotOwner: "not_owner",
  /** NATS unreachable, connection closed, or no owner found before the deadline. */
  Unavailable: "unavailable",
  /** A request or reply did not decode or is out of bounds. */
  BadMessage: "bad_message",
  /** The remote handler failed with an error of its own (see `remote`). */
  Remote: "remote_error",
  /** Too many requests being handled; shed load. */
  Overloaded: "overloaded",
  /** The component was stopped. */
  Closed: "closed",
} as const;
export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode];

const RETRYABLE: ReadonlySet<ClusterErrorCode> = new Set([
  ClusterErrorCode.Timeout,
  ClusterErrorCode.NoResponders,
  ClusterErrorCode.NotOwner,
  ClusterErrorCode.Unavailable,
  ClusterErrorCode.Overloaded,
]);

/** What a remote handler's error looked like (name and code only: messages never carry contents). */
export interface RemoteErrorInfo {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
}

export class ClusterError extends Error {
  override readonly name = "ClusterError";
  readonly code: ClusterErrorCode;
  readonly retryable: boolean;
  /** Set when code is `remote_error`. */
  readonly remote: RemoteErrorInfo | undefined;

  constructor(code: ClusterErrorCode, message: string, options: { cause?: unknown; retryable?: boolean; remote?: RemoteErrorInfo } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.remote = options.remote;
    this.retryable = options.retryable ?? options.remote?.retryable ?? RETRYABLE.has(code);
  }
}

export function isClusterError(e: unknown): e is ClusterError {
  return e instanceof ClusterError;
}
