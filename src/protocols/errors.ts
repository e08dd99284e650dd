// Typed protocol errors: each maps to one DIDComm problem code, a static comment, and an HTTP status.
import { isDidcommError } from "../didcomm/errors.ts";
import { ActorError } from "../mailbox/actors/errors.ts";
import { MailboxError } from "../mailbox/errors.ts";
import { isStorageError, StorageErrorCode } from "../storage/errors.ts";

export type RejectStatus = 400 | 403 | 409 | 413 | 422 | 429 | 503;

export interface ProblemSpec {
  /** DIDComm problem code (sorter.scope.descriptors). Never changes meaning. */
  code: string;
  /** Stable snake_case reason, used as the rejected outcome's `code`. */
  reason: string;
  /** Status when the problem cannot be reported to a sender (or ends a forward). */
  httpStatus: RejectStatus;
  /** Statically associated with `code` (spec: comments must not vary); `{1}` interpolates args. */
  comment: string;
}

function spec(code: string, reason: string, httpStatus: RejectStatus, comment: string): ProblemSpec {
  return { code, reason, httpStatus, comment };
}

/** Every problem Haven reports. Codes follow the DIDComm v2 problem code structure. */
export const Problems = {
  unsupportedProtocol: spec("e.p.msg.unsupported", "unsupported_protocol", 422, "Message type {1} is not supported."),
  unsupportedVersion: spec("e.p.msg.unsupported.version", "unsupported_version", 422, "Protocol {1} is supported in versions: {2}."),
  invalidMessage: spec("e.p.msg.invalid", "invalid_message", 400, "The message is invalid: {1}."),
  malformedEnvelope: spec("e.p.msg.malformed", "malformed", 400, "The envelope could not be read."),
  cryptoFailed: spec("e.p.trust.crypto", "crypto_failed", 400, "Cryptographic operation failed."),
  authRequired: spec("e.p.trust.authentication-required", "not_authenticated", 403, "This request needs an authenticated sender (authcrypt or signed)."),
  notEnrolled: spec("e.p.req.not-enrolled", "not_enrolled", 403, "The requester holds no mediation for this DID."),
  recipientNotEnrolled: spec("e.p.req.recipient-not-enrolled", "recipient_not_enrolled", 422, "The forward's next is not enrolled at this mediator."),
  quotaExceeded: spec("e.p.me.res.storage.quota-exceeded", "quota_exceeded", 429, "The recipient's mailbox is full ({1} limit)."),
  expired: spec("e.p.req.time", "expired", 422, "The message has expired."),
  replay: spec("e.m.msg.replay", "replay", 409, "A message with this id was already received from this sender."),
  tooOld: spec("e.p.req.time", "too_old", 422, "The message was created before the replay window; it cannot be checked for replay."),
  liveModeNotSupported: spec("e.m.live-mode-not-supported", "live_mode_not_supported", 400, "Connection does not support Live Delivery"),
  tooManyLiveListeners: spec("e.p.me.res.live-listeners", "too_many_live_listeners", 429, "Too many live delivery sessions for this mailbox."),
  unavailable: spec("e.p.me.res.storage", "unavailable", 503, "A required resource is unavailable; retry later."),
  internal: spec("e.p.me", "internal", 503, "Internal error."),
} as const satisfies Record<string, ProblemSpec>;

export type ProblemName = keyof typeof Problems;

/** Thrown by handlers; the router turns it into a problem report (or a rejected outcome). */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly problem: ProblemSpec;
  readonly args: string[];
  readonly retryable: boolean;

  constructor(problem: ProblemSpec, args: string[] = [], options: { cause?: unknown; retryable?: boolean } = {}) {
    super(problem.reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.problem = problem;
    this.args = args;
    this.retryable = options.retryable ?? problem.httpStatus === 503;
  }

  get code(): string {
    return this.problem.code;
  }
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}

/** Anything a handler threw, as a ProtocolError: bad input stays 4xx, infrastructure trouble becomes 503. */
export function toProtocolError(e: unknown): ProtocolError {
  if (isProtocolError(e)) return e;
  if (isDidcommError(e)) {
    if (e.retryable) return new ProtocolError(Problems.unavailable, [], { cause: e });
    return new ProtocolError(Problems.invalidMessage, [e.code], { cause: e });
  }
  if (isStorageError(e)) {
    if (e.code === StorageErrorCode.InvalidArgument) return new ProtocolError(Problems.invalidMessage, ["out of bounds"], { cause: e });
    return new ProtocolError(Problems.unavailable, [], { cause: e, retryable: true });
  }
  if (e instanceof MailboxError) {
    if (e.code === "too_many_listeners") return new ProtocolError(Problems.tooManyLiveListeners, [], { cause: e });
    return new ProtocolError(Problems.invalidMessage, ["out of bounds"], { cause: e });
  }
  if (e instanceof ActorError && e.retryable) return new ProtocolError(Problems.unavailable, [], { cause: e, retryable: true });
  // Any other error that says a retry can succeed (e.g. the delivery queue or the cluster while NATS is
  // away) is a retryable 503, not an internal error: the sender should try again, nothing was lost.
  if (isRetryable(e)) return new ProtocolError(Problems.unavailable, [], { cause: e, retryable: true });
  return new ProtocolError(Problems.internal, [], { cause: e });
}

function isRetryable(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { retryable?: unknown }).retryable === true;
}

/** Shorthand for handlers validating a body: throws invalidMessage naming the field. */
export function invalid(what: string): never {
  throw new ProtocolError(Problems.invalidMessage, [what]);
}
