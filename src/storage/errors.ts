// Typed storage errors: a stable `code`, whether retrying can help, and the underlying cause.

export const StorageErrorCode = {
  /** An argument is out of bounds or of the wrong type (a caller bug). */
  InvalidArgument: "invalid_argument",
  /** A message id is already used by a different message. */
  Conflict: "conflict",
  /** The referenced record (e.g. a mediation) does not exist. */
  NotFound: "not_found",
  /** The backend failed (I/O, lock timeout, disk full); the whole write batch was rolled back. */
  Unavailable: "unavailable",
  /** The driver was closed. */
  Closed: "closed",
  /** The database was written by a newer schema than this code knows. */
  SchemaTooNew: "schema_too_new",
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

const RETRYABLE: ReadonlySet<StorageErrorCode> = new Set([StorageErrorCode.Unavailable]);

/** The only error type storage drivers reject with. Messages never contain payloads. */
export class StorageError extends Error {
  override readonly name = "StorageError";
  readonly code: StorageErrorCode;
  readonly retryable: boolean;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? RETRYABLE.has(code);
  }
}

export function isStorageError(e: unknown): e is StorageError {
  return e instanceof StorageError;
}
