// The secrets resolver: how the DIDComm layer finds private keys we hold, by `kid`.
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";

/**
 * Synchronous on purpose: the mediator's keys live in memory and unpack is on the hot path.
 * Implementations must never log or expose the returned private keys.
 */
export interface SecretsResolver {
  /** The private key for a DID URL (`did:...#key`), or undefined when we do not hold it. */
  get(kid: string): KeyRef<PrivateJwk> | undefined;
  /** The subset of `kids` we hold, order preserved. */
  has(kids: readonly string[]): string[];
}
