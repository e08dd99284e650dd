// Domain errors of the mailbox layer: they reject one request and never crash a mailbox actor.
import { DomainError } from "./actors/errors.ts";

export const MailboxErrorCode = {
  /** A mailbox key or argument is out of bounds (a caller bug or hostile input). */
  InvalidArgument: "invalid_argument",
  /** The mailbox already has `maxListenersPerMailbox` live listeners. */
  TooManyListeners: "too_many_listeners",
} as const;
export type MailboxErrorCode = (typeof MailboxErrorCode)[keyof typeof MailboxErrorCode];

export class MailboxError extends DomainError {
  override readonly name = "MailboxError";
  declare readonly code: MailboxErrorCode;
  constructor(code: MailboxErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
