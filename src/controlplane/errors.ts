// The control plane's failures as storage errors: `unavailable` is retryable (NATS may come back), the rest are not.
import { StorageError, StorageErrorCode } from "../storage/errors.ts";

/** Messages stay generic: they never carry DIDs or values. */
export function unavailable(message: string, cause?: unknown): StorageError {
  return new StorageError(StorageErrorCode.Unavailable, message, { cause, retryable: true });
}

export function closed(what: string): StorageError {
  return new StorageError(StorageErrorCode.Closed, `${what} is closed`);
}
