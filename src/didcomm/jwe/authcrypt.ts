// DIDComm authcrypt: JWE with ECDH-1PU+A256KW (tag-in-KDF) and A256CBC-HS512.
import { randomBytes } from "node:crypto";
import { cekLength, encryptContent } from "../crypto/content.ts";
import { ecdhKeyObjects } from "../crypto/ecdh.ts";
import { concatKdf } from "../crypto/kdf.ts";
import { privateKeyObject, publicKeyObject } from "../crypto/keys.ts";
import { wrapA256KW } from "../crypto/keywrap.ts";
import { b64uEncode, utf8Encode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { apvDigest } from "./apv.ts";
import { aadOf, checkRecipients, concatZ, encodeProtectedHeader, ephemeralKey } from "./envelope.ts";
import { AUTH_ALG, type EncryptOptions, type JweGeneral } from "./types.ts";

const KEK_BITS = 256;
const MAX_SKID_LENGTH = 2048;

/**
 * Encrypts `plaintext` from `sender` to every key in `recipients` (sender and recipients on one curve).
 * Per draft-madden-jose-ecdh-1pu-04 the content is encrypted first and its tag enters the KDF
 * (cctag), then the CEK is wrapped per recipient with KEK = KDF(Ze || Zs).
 */
export function encryptAuth(
  plaintext: Uint8Array,
  sender: KeyRef<PrivateJwk>,
  recipients: KeyRef[],
  opts: EncryptOptions<"A256CBC-HS512"> = {},
): JweGeneral {
  const enc = opts.enc ?? "A256CBC-HS512";
  if (enc !== "A256CBC-HS512") throw new DidcommError(DidcommErrorCode.Unsupported, "authcrypt supports only A256CBC-HS512");
  const crv = checkRecipients(recipients);
  if (sender === null || typeof sender !== "object" || sender.jwk === null || typeof sender.jwk !== "object") {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "sender key is not a KeyRef");
  }
  if (typeof sender.kid !== "string" || sender.kid.length === 0 || sender.kid.length > MAX_SKID_LENGTH) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, "sender kid is missing or too long");
  }
  if (sender.jwk.crv !== crv) throw new DidcommError(DidcommErrorCode.InvalidKey, "sender and recipients use different curves");
  const senderKey = privateKeyObject(sender.jwk);
  const recipientKeys = recipients.map((r) => publicKeyObject(r.jwk));
  const apu = utf8Encode(sender.kid);
  const apv = apvDigest(recipients.map((r) => r.kid));
  const eph = ephemeralKey(crv);
  const protectedB64 = encodeProtectedHeader({
    typ: opts.typ,
    cty: opts.cty,
    alg: AUTH_ALG,
    enc,
    skid: sender.kid,
    apu: b64uEncode(apu),
    apv: b64uEncode(apv),
    epk: eph.epk,
  });

  const cek = randomBytes(cekLength(enc));
  try {
    const sealed = encryptContent(enc, cek, plaintext, aadOf(protectedB64));
    const wrapped = recipients.map((r, i) => {
      const recipientKey = recipientKeys[i]!;
      const z = concatZ(ecdhKeyObjects(eph.priv, recipientKey), ecdhKeyObjects(senderKey, recipientKey));
      const kek = concatKdf(z, KEK_BITS, AUTH_ALG, apu, apv, sealed.tag);
      z.fill(0);
      const encryptedKey = wrapA256KW(kek, cek);
      kek.fill(0);
      return { header: { kid: r.kid }, encrypted_key: b64uEncode(encryptedKey) };
    });
    return {
      protected: protectedB64,
      recipients: wrapped,
      iv: b64uEncode(sealed.iv),
      ciphertext: b64uEncode(sealed.ciphertext),
      tag: b64uEncode(sealed.tag),
    };
  } finally {
    cek.fill(0);
  }
}
