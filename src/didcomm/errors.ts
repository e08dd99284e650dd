// Typed errors for the DIDComm layer: a stable `code`, whether retrying can help, and the underlying cause.

/**
 * Stable error codes. They never change meaning; the protocol layer maps them to DIDComm
 * problem-report codes (e.g. `e.p.crypto.*`, `e.p.msg.*`, `e.p.did.*`).
 */
export const DidcommErrorCode = {
  /** Input is not JSON, is truncated, or lacks required JOSE/DIDComm structure. */
  Malformed: "malformed",
  /** Input exceeds a configured size limit. */
  TooLarge: "too_large",
  /** `alg`, `enc`, `crv`, `kty` or `typ` is not one we support. */
  Unsupported: "unsupported",
  /** Authentication tag, key unwrap or signature check failed (tampering or wrong key). */
  DecryptFailed: "decrypt_failed",
  /** A signature did not verify. */
  InvalidSignature: "invalid_signature",
  /** None of the envelope's recipients is a key we hold. */
  NoRecipient: "no_recipient",
  /** A `kid`/`skid` names a key that cannot be found in the DID document. */
  UnknownKid: "unknown_kid",
  /** The `skid` does not match the sender (`apu`, `from`, or the signer). */
  SenderMismatch: "sender_mismatch",
  /** A plaintext message violates the DIDComm v2 message model. */
  InvalidMessage: "invalid_message",
  /** A message's `expires_time` is in the past. */
  Expired: "expired",
  /** The DID string is syntactically invalid or its method is unsupported. */
  DidInvalid: "did_invalid",
  /** The DID could not be resolved (not found, network error, timeout). */
  DidNotResolved: "did_not_resolved",
  /** A needed key (e.g. a keyAgreement key) is missing from a DID document or secrets store. */
  KeyNotFound: "key_not_found",
  /** Key material is invalid (wrong length, point not on curve, bad JWK). */
  InvalidKey: "invalid_key",
} as const;
export type DidcommErrorCode = (typeof DidcommErrorCode)[keyof typeof DidcommErrorCode];

/** Codes where a later retry may succeed (transient resolution failures). */
const RETRYABLE: ReadonlySet<DidcommErrorCode> = new Set([DidcommErrorCode.DidNotResolved]);

/**
 * The only error type the DIDComm layer throws on bad input. Messages must never contain key
 * material or message contents: callers may log them.
 */
export class DidcommError extends Error {
  override readonly name = "DidcommError";
  readonly code: DidcommErrorCode;
  readonly retryable: boolean;

  constructor(code: DidcommErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? RETRYABLE.has(code);
  }
}

export function isDidcommError(e: unknown): e is DidcommError {
  return e instanceof DidcommError;
}

/** Throws a DidcommError with the given code when `condition` is false. */
export function ensure(condition: unknown, code: DidcommErrorCode, message: string): asserts condition {
  if (!condition) throw new DidcommError(code, message);
}
