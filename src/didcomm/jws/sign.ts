// Produces DIDComm signed envelopes: a General JSON JWS with one signature per signer key.
import { algForKey, signBytes } from "../crypto/sign.ts";
import { b64uEncode, b64uEncodeJson } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { DIDCOMM_SIGNED_TYP, type JwsGeneral } from "./types.ts";

const MAX_SIGNERS = 16;
const MAX_KID_LENGTH = 2048;

/** Signs `payload` with every key in `signers`; protected {typ, alg}, unprotected {kid}. */
export function signJws(payload: Uint8Array, signers: KeyRef<PrivateJwk>[], opts: { typ?: string } = {}): JwsGeneral {
  if (!Array.isArray(signers) || signers.length === 0) throw new DidcommError(DidcommErrorCode.KeyNotFound, "no signing keys");
  if (signers.length > MAX_SIGNERS) throw new DidcommError(DidcommErrorCode.TooLarge, "too many signers");
  const typ = opts.typ ?? DIDCOMM_SIGNED_TYP;
  if (typeof typ !== "string" || typ.length === 0 || typ.length > 256) throw new DidcommError(DidcommErrorCode.Malformed, "invalid typ");
  const payloadB64 = b64uEncode(payload);
  const signatures = signers.map((signer) => {
    if (typeof signer.kid !== "string" || signer.kid.length === 0 || signer.kid.length > MAX_KID_LENGTH) {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "signer kid is missing or too long");
    }
    const alg = algForKey(signer.jwk);
    const protectedB64 = b64uEncodeJson({ typ, alg });
    const signature = signBytes(alg, signer.jwk, signingInput(protectedB64, payloadB64));
    return { protected: protectedB64, signature: b64uEncode(signature), header: { kid: signer.kid } };
  });
  return { payload: payloadB64, signatures };
}

/** JWS Signing Input: ASCII(BASE64URL(protected) || "." || BASE64URL(payload)). */
export function signingInput(protectedB64: string, payloadB64: string): Uint8Array {
  return Buffer.from(`${protectedB64}.${payloadB64}`, "latin1");
}
