// Key generation with native primitives (node:crypto), producing JWKs.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Curve, PrivateJwk } from "./jwk.ts";

function nativePair(crv: Curve): { privateKey: KeyObject } {
  if (crv === "P-256") return generateKeyPairSync("ec", { namedCurve: "P-256" });
  if (crv === "X25519") return generateKeyPairSync("x25519");
  return generateKeyPairSync("ed25519");
}

/** Generates a fresh key pair on `crv` and returns it as a private JWK (public part included). */
export function generateJwk(crv: Curve): PrivateJwk {
  const jwk = nativePair(crv).privateKey.export({ format: "jwk" }) as Record<string, string>;
  const out: PrivateJwk = { kty: crv === "P-256" ? "EC" : "OKP", crv, x: jwk.x!, d: jwk.d! };
  if (crv === "P-256") out.y = jwk.y!;
  return out;
}
