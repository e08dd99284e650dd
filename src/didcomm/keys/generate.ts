// Key generation with native primitives (node:crypto), producing JWKs.
import { generateKeyPairSync } from "node:crypto";
import type { Curve, PrivateJwk } from "./jwk.ts";

/** Generates a fresh key pair on `crv` and returns it as a private JWK (public part included). */
export function generateJwk(crv: Curve): PrivateJwk {
  const pair =
    crv === "P-256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync(crv === "X25519" ? "x25519" : "ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" }) as Record<string, string>;
  const out: PrivateJwk = { kty: crv === "P-256" ? "EC" : "OKP", crv, x: jwk.x!, d: jwk.d! };
  if (crv === "P-256") out.y = jwk.y!;
  return out;
}
