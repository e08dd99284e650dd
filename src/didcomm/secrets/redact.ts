// Makes objects holding private keys safe to log: JSON.stringify and inspect show kids, never key material.
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";

export const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** Adds non-enumerable toJSON / inspect hooks that print `{ kid, crv, d: "[redacted]" }`. */
export function redactedKeyRef(kid: string, jwk: PrivateJwk): KeyRef<PrivateJwk> {
  const ref: KeyRef<PrivateJwk> = { kid, jwk };
  const safe = () => ({ kid, crv: jwk.crv, d: "[redacted]" });
  Object.defineProperty(ref, "toJSON", { value: safe, enumerable: false });
  Object.defineProperty(ref, INSPECT, { value: () => `KeyRef ${JSON.stringify(safe())}`, enumerable: false });
  Object.defineProperty(ref, "toString", { value: () => `KeyRef(${kid})`, enumerable: false });
  return Object.freeze(ref);
}
