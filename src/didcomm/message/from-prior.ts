// from_prior: the compact JWT a party uses to announce a DID rotation (prior DID `iss` -> new DID `sub`).
import { authenticationKeys, didOf } from "../did/document.ts";
import type { DidResolver } from "../did/types.ts";
import { b64uDecodeJson, b64uEncodeJson, b64uDecode, b64uEncode, utf8Encode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { algForKey, signBytes, verifyBytes, type SignAlg } from "../crypto/sign.ts";
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { isDid } from "./did-syntax.ts";

export interface FromPriorClaims {
  iss: string;
  sub: string;
  iat?: number;
  [claim: string]: unknown;
}

export interface VerifiedFromPrior {
  claims: FromPriorClaims;
  /** The prior DID's authentication key that signed the JWT. */
  issuerKid: string;
}

function invalid(message: string): never {
  throw new DidcommError(DidcommErrorCode.InvalidMessage, message);
}

/** Signs a from_prior JWT with a key of the prior DID (`iss`); the key must be an authentication key. */
export function issueFromPrior(claims: FromPriorClaims, signer: KeyRef<PrivateJwk>): string {
  if (!isDid(claims.iss) || !isDid(claims.sub) || claims.iss === claims.sub) invalid("from_prior iss and sub must be two different DIDs");
  if (didOf(signer.kid) !== claims.iss) invalid("from_prior signer must be a key of iss");
  const alg = algForKey(signer.jwk);
  const signingInput = `${b64uEncodeJson({ typ: "JWT", alg, kid: signer.kid })}.${b64uEncodeJson(claims)}`;
  return `${signingInput}.${b64uEncode(signBytes(alg, signer.jwk, utf8Encode(signingInput)))}`;
}

/**
 * Verifies a from_prior JWT: EdDSA/ES256 signature by an authentication key of `iss` (resolved via
 * `resolver`), `sub` equal to the message's `from`, `exp`/`nbf` against `nowMs` when given.
 * Throws InvalidMessage (shape/claims), Unsupported (alg), UnknownKid, InvalidSignature.
 */
export async function verifyFromPrior(
  jwt: string,
  from: string | undefined,
  resolver: DidResolver,
  nowMs?: number,
): Promise<VerifiedFromPrior> {
  const parts = jwt.split(".");
  if (parts.length !== 3) invalid("from_prior must be a compact JWT");
  const [h, p, s] = parts as [string, string, string];
  const header = decodePart(h, "from_prior header");
  const claims = decodePart(p, "from_prior payload");
  const alg = header.alg;
  if (alg !== "EdDSA" && alg !== "ES256") throw new DidcommError(DidcommErrorCode.Unsupported, "from_prior alg must be EdDSA or ES256");
  const kid = header.kid;
  if (typeof kid !== "string") invalid("from_prior header lacks kid");
  if (!isDid(claims.iss) || !isDid(claims.sub)) invalid("from_prior iss and sub must be DIDs");
  if (claims.iss === claims.sub) invalid("from_prior iss and sub must differ");
  if (didOf(kid) !== claims.iss) invalid("from_prior kid is not a key of iss");
  if (from !== undefined && claims.sub !== from) throw new DidcommError(DidcommErrorCode.SenderMismatch, "from_prior sub does not match from");
  if (nowMs !== undefined) checkTimes(claims, nowMs);

  const doc = await resolver.resolve(claims.iss);
  const key = authenticationKeys(doc).find((k) => k.kid === kid);
  if (key === undefined) throw new DidcommError(DidcommErrorCode.UnknownKid, "from_prior kid is not an authentication key of iss");
  const sig = b64uDecode(s, "from_prior signature");
  let ok: boolean;
  try {
    ok = verifyBytes(alg as SignAlg, key.jwk, utf8Encode(`${h}.${p}`), sig);
  } catch (cause) {
    if (cause instanceof DidcommError) throw cause;
    throw new DidcommError(DidcommErrorCode.InvalidSignature, "from_prior signature check failed", { cause });
  }
  if (!ok) throw new DidcommError(DidcommErrorCode.InvalidSignature, "from_prior signature is invalid");
  return { claims: claims as FromPriorClaims, issuerKid: kid };
}

function decodePart(part: string, what: string): Record<string, unknown> {
  try {
    return b64uDecodeJson(part, what);
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, `${what} is not base64url JSON`, { cause });
  }
}

function checkTimes(claims: Record<string, unknown>, nowMs: number): void {
  const { exp, nbf } = claims;
  if (exp !== undefined && (typeof exp !== "number" || exp * 1000 < nowMs)) {
    throw new DidcommError(DidcommErrorCode.Expired, "from_prior has expired");
  }
  if (nbf !== undefined && (typeof nbf !== "number" || nbf * 1000 > nowMs)) invalid("from_prior is not yet valid");
}
