// The delivery layer's one error type: a stable code, whether retrying can help, and the cause (never secrets or bodies).

export const DeliveryErrorCode = {
  /** A URL, option or record failed validation. */
  Invalid: "invalid",
  /** The breaker's shared store did not answer (timeout, connection, server error). */
  StoreUnavailable: "store_unavailable",
  /** Too many CAS conflicts in a row on one breaker record. */
  Contention: "contention",
  /** The event queue or DLQ storage failed. */
  Storage: "storage",
  /** Not found (event id, DLQ entry). */
  NotFound: "not_found",
  /** Used after close(). */
  Closed: "closed",
  /** The event is no longer this node's to finish: its partition moved, or another node already completed or dead-lettered it. */
  Fenced: "fenced",
} as const;
export type DeliveryErrorCode = (typeof DeliveryErrorCode)[keyof typeof DeliveryErrorCode];

export class DeliveryError extends Error {
  override readonly name = "DeliveryError";
  readonly code: DeliveryErrorCode;
  readonly retryable: boolean;
  constructor(code: DeliveryErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** Throws DeliveryError(Invalid) unless `v` is an integer within [min, max]; returns it. */
export function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, `${name} must be an integer in ${min}..${max}, got ${v}`);
  }
  return v;
}
