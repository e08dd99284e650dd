// Typed errors of the actor runtime: a stable `code`, whether a retry can help, and the cause.

/** Stable codes; they never change meaning (the transport maps them to status codes / problem reports). */
export const ActorErrorCode = {
  /** The actor's queue is full: the caller should back off and retry. */
  Overloaded: "mailbox_overloaded",
  /** The actor crashed too often and is escalated; asks fail fast until its cool-down ends. */
  Unavailable: "actor_unavailable",
  /** The actor system is stopping or stopped. Another node (or a restart) may serve the request. */
  Stopped: "actor_system_stopped",
  /** Options outside their documented bounds (a programming/configuration error). */
  InvalidConfig: "invalid_config",
  /** An internal invariant failed: a bug in the runtime, never caused by input. */
  Invariant: "invariant_violated",
} as const;
export type ActorErrorCode = (typeof ActorErrorCode)[keyof typeof ActorErrorCode];

/** Base of every error the runtime itself throws. Messages never contain message contents. */
export class ActorError extends Error {
  override readonly name: string = "ActorError";
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable;
  }
}

/** The per-actor queue holds `maxQueue` asks already; this ask was not accepted. */
export class MailboxOverloadedError extends ActorError {
  override readonly name = "MailboxOverloadedError";
  constructor(readonly key: string, readonly maxQueue: number) {
    super(ActorErrorCode.Overloaded, `actor queue full (${maxQueue} pending)`, { retryable: true });
  }
}

/** The actor is escalated (too many restarts in the window); retry after `retryAfterMs`. */
export class ActorUnavailableError extends ActorError {
  override readonly name = "ActorUnavailableError";
  constructor(readonly key: string, readonly retryAfterMs: number, cause?: unknown) {
    super(ActorErrorCode.Unavailable, `actor unavailable after repeated crashes; retry in ${Math.ceil(retryAfterMs)} ms`, {
      retryable: true,
      cause,
    });
  }
}

/** The system was stopped before (or while) this ask could run. */
export class ActorSystemStoppedError extends ActorError {
  override readonly name = "ActorSystemStoppedError";
  constructor() {
    super(ActorErrorCode.Stopped, "actor system stopped", { retryable: true });
  }
}

export class ActorConfigError extends ActorError {
  override readonly name = "ActorConfigError";
  constructor(message: string) {
    super(ActorErrorCode.InvalidConfig, message, { retryable: false });
  }
}

/**
 * An expected, domain-level failure (bad request, quota, not found...): it rejects only the ask
 * that raised it and never crashes the actor. Subclass it for domain errors with their own codes.
 */
export class DomainError extends ActorError {
  override readonly name: string = "DomainError";
  readonly expected = true as const;
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, { retryable: options.retryable ?? false, cause: options.cause });
  }
}

/**
 * Is `err` a domain error (rejects the ask, keeps the actor)? True for DomainError and for any
 * object carrying `expected === true`, so other layers can mark their errors without importing us.
 */
export function isExpectedError(err: unknown): boolean {
  return err instanceof DomainError || (typeof err === "object" && err !== null && (err as { expected?: unknown }).expected === true);
}

/** Runtime invariant check: a failure is a bug in this module, so it is loud and typed. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ActorError(ActorErrorCode.Invariant, `invariant violated: ${message}`, { retryable: false });
}
