// In-memory SecretsResolver: the mediator's private keys by kid, validated on insert, never printed.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { toPrivateJwk, type KeyRef, type PrivateJwk } from "../keys/jwk.ts";
import { INSPECT, redactedKeyRef } from "./redact.ts";
import type { SecretsResolver } from "./types.ts";

/** Holds a bounded number of keys; the stored KeyRef objects are stable, so per-key native caches stay warm. */
export class MemorySecrets implements SecretsResolver {
  static readonly MAX_KEYS = 10_000;
  readonly #keys = new Map<string, KeyRef<PrivateJwk>>();

  constructor(keys: KeyRef<PrivateJwk>[] = []) {
    for (const k of keys) this.add(k);
  }

  /** Adds (or replaces) a key. The kid must be an absolute DID URL; the JWK is validated and copied. */
  add(key: KeyRef<PrivateJwk>): void {
    if (key === null || typeof key !== "object" || typeof key.kid !== "string" || !key.kid.startsWith("did:") || !key.kid.includes("#")) {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "secret kid must be an absolute DID URL");
    }
    if (!this.#keys.has(key.kid) && this.#keys.size >= MemorySecrets.MAX_KEYS) {
      throw new DidcommError(DidcommErrorCode.TooLarge, "too many secrets");
    }
    const jwk = toPrivateJwk(key.jwk, `secret ${key.kid}`);
    this.#keys.set(key.kid, redactedKeyRef(key.kid, Object.freeze(jwk) as PrivateJwk));
  }

  delete(kid: string): boolean {
    return this.#keys.delete(kid);
  }

  get(kid: string): KeyRef<PrivateJwk> | undefined {
    return this.#keys.get(kid);
  }

  has(kids: readonly string[]): string[] {
    const out: string[] = [];
    for (const kid of kids) if (this.#keys.has(kid)) out.push(kid);
    return out;
  }

  kids(): string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  toJSON(): { kids: string[] } {
    return { kids: this.kids() };
  }

  toString(): string {
    return `MemorySecrets(${this.#keys.size} keys)`;
  }

  [INSPECT](): string {
    return `MemorySecrets { kids: ${JSON.stringify(this.kids())} }`;
  }
}
