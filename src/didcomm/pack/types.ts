// Types of the high-level pack/unpack API: context, options, results and unpack metadata.
import type { ContentEnc } from "../crypto/content.ts";
import type { DidResolver } from "../did/types.ts";
import type { Message, ParseMessageOptions } from "../message/types.ts";
import type { SecretsResolver } from "../secrets/types.ts";
import type { FromPriorClaims } from "../message/from-prior.ts";

/** What pack/unpack need from the host: DID resolution, our private keys, limits and a clock. */
export interface DidcommContext {
  resolver: DidResolver;
  secrets: SecretsResolver;
  /** Largest envelope `unpack` accepts, in UTF-8 bytes (default 1 MiB). */
  maxEnvelopeBytes?: number;
  /** Millisecond clock (default Date.now); used for expiry checks. */
  now?: () => number;
}

export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;

export interface PackEncryptedOptions {
  /** Sender DID or keyAgreement kid: authcrypt (ECDH-1PU) instead of anoncrypt. */
  from?: string;
  /** Signer DID or authentication kid: sign (JWS) first, then encrypt. */
  signBy?: string;
  /** Content encryption for anoncrypt layers (authcrypt is always A256CBC-HS512). */
  enc?: ContentEnc;
  /** Wrap the authcrypt envelope in anoncrypt to hide the sender from intermediaries. */
  protectSender?: boolean;
  /** Wrap in Routing 2.0 forwards per the recipient's DIDCommMessaging service (default true). */
  forward?: boolean;
}

export interface PackEncryptedResult {
  /** The JWE (outermost forward when routed), JSON text. */
  packed: string;
  /** The recipient keys the message itself was encrypted for. */
  toKids: string[];
  fromKid?: string;
  signByKid?: string;
  /** Where to send `packed` (the first hop) when the recipient has a DIDCommMessaging service. */
  service?: { uri: string; routingKeys: string[] };
}

export type SenderAuth =
  | { kind: "anonymous" }
  | { kind: "authcrypt"; did: string; kid: string }
  | { kind: "signed"; did: string; kid: string };

export interface UnpackMetadata {
  encrypted: boolean;
  /** Sender proven by authcrypt or a signature. */
  authenticated: boolean;
  /** Signed (JWS): the sender cannot deny it. */
  nonRepudiation: boolean;
  /** An anoncrypt layer was present (didcomm-rust semantics: the sender was hidden from intermediaries). */
  anonymousSender: boolean;
  /** `skid` of the authcrypt layer. */
  encryptedFromKid?: string;
  /** Recipient kids listed in the outermost JWE. */
  encryptedToKids?: string[];
  /** The kid we decrypted with (innermost JWE). */
  decryptedWithKid?: string;
  /** Signer kid (first signature). */
  signFrom?: string;
  /** e.g. "ECDH-ES+A256KW+XC20P". */
  encAlgAnon?: string;
  /** e.g. "ECDH-1PU+A256KW+A256CBC-HS512". */
  encAlgAuth?: string;
  signAlg?: string;
  /** Verified from_prior claims (DID rotation), when the message carries one. */
  fromPrior?: FromPriorClaims;
  fromPriorIssuerKid?: string;
  /** Strongest sender authentication present (signed beats authcrypt). */
  sender: SenderAuth;
}

export interface UnpackOptions {
  /** Bounds for the plaintext message model. */
  message?: Omit<ParseMessageOptions, "now">;
  /** Reject messages whose expires_time has passed (ctx.now clock). Default false: the caller decides. */
  checkExpiry?: boolean;
  /** Verify a from_prior JWT against the prior DID (default true). */
  verifyFromPrior?: boolean;
}

export interface UnpackResult {
  message: Message;
  metadata: UnpackMetadata;
}

export interface UnpackForwardResult extends UnpackResult {
  next: string;
  forwarded: Record<string, unknown>;
}
