// DIDComm anoncrypt: JWE with ECDH-ES+A256KW key agreement, one ephemeral key for all recipients.
import { randomBytes } from "node:crypto";
import { type ContentEnc, cekLength, encryptContent, isContentEnc } from "../crypto/content.ts";
import { ecdhKeyObjects } from "../crypto/ecdh.ts";
import { concatKdf } from "../crypto/kdf.ts";
import { publicKeyObject } from "../crypto/keys.ts";
import { wrapA256KW } from "../crypto/keywrap.ts";
import { b64uEncode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { KeyRef } from "../keys/jwk.ts";
import { apvDigest } from "./apv.ts";
import { aadOf, checkRecipients, encodeProtectedHeader, ephemeralKey } from "./envelope.ts";
import { ANON_ALG, type EncryptOptions, type JweGeneral } from "./types.ts";

const KEK_BITS = 256;
const EMPTY = new Uint8Array(0);

/**
 * Encrypts `plaintext` anonymously to every key in `recipients` (all on one curve).
 * Default enc is XC20P; the KDF's AlgorithmID is the key-wrapping alg, apu is empty.
 */
export function encryptAnon(
  plaintext: Uint8Array,
  recipients: KeyRef[],
  opts: EncryptOptions = {},
): JweGeneral {
  const enc: ContentEnc = opts.enc ?? "XC20P";
  if (!isContentEnc(enc)) throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported enc");
  const crv = checkRecipients(recipients);
  const recipientKeys = recipients.map((r) => publicKeyObject(r.jwk));
  const apv = apvDigest(recipients.map((r) => r.kid));
  const eph = ephemeralKey(crv);
  const protectedB64 = encodeProtectedHeader({
    typ: opts.typ,
    cty: opts.cty,
    alg: ANON_ALG,
    enc,
    apv: b64uEncode(apv),
    epk: eph.epk,
  });

  const cek = randomBytes(cekLength(enc));
  try {
    const wrapped = recipients.map((r, i) => {
      const z = ecdhKeyObjects(eph.priv, recipientKeys[i]!);
      const kek = concatKdf(z, KEK_BITS, ANON_ALG, EMPTY, apv);
      z.fill(0);
      const encryptedKey = wrapA256KW(kek, cek);
      kek.fill(0);
      return { header: { kid: r.kid }, encrypted_key: b64uEncode(encryptedKey) };
    });
    const sealed = encryptContent(enc, cek, plaintext, aadOf(protectedB64));
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
