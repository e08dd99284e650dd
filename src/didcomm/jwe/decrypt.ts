// Decrypts a parsed JWE for one local recipient key (anoncrypt, or authcrypt given the sender's key).
import type { KeyObject } from "node:crypto";
import { decryptContent } from "../crypto/content.ts";
import { ecdhKeyObjects } from "../crypto/ecdh.ts";
import { concatKdf } from "../crypto/kdf.ts";
import { privateKeyObject, publicKeyObject } from "../crypto/keys.ts";
import { unwrapA256KW } from "../crypto/keywrap.ts";
import { b64uDecode, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { aadOf, concatZ } from "./envelope.ts";
import { ANON_ALG, AUTH_ALG, type ParsedJwe } from "./types.ts";

const KEK_BITS = 256;
const EMPTY = new Uint8Array(0);

/**
 * Returns the plaintext or throws a DidcommError (never a partial result):
 * - NoRecipient: `recipient.kid` is not among the JWE's recipients;
 * - InvalidKey: a key is not on the epk's curve, or is bad material;
 * - KeyNotFound: ECDH-1PU without `sender`; SenderMismatch: `sender.kid` differs from skid/apu,
 *   or a sender was given for an anoncrypt JWE (which cannot authenticate anyone);
 * - DecryptFailed: wrong key or any tampering (unwrap or content authentication failed).
 */
export function decryptJwe(jwe: ParsedJwe, recipient: KeyRef<PrivateJwk>, sender?: KeyRef): Uint8Array {
  try {
    return decryptUnchecked(jwe, recipient, sender);
  } catch (e) {
    if (isDidcommError(e)) throw e;
    throw new DidcommError(DidcommErrorCode.DecryptFailed, "JWE decryption failed", { cause: e });
  }
}

function decryptUnchecked(jwe: ParsedJwe, recipient: KeyRef<PrivateJwk>, sender?: KeyRef): Uint8Array {
  const entry = jwe.recipients.find((r) => r.kid === recipient.kid);
  if (entry === undefined) throw new DidcommError(DidcommErrorCode.NoRecipient, "JWE is not addressed to this key");
  const { header } = jwe;
  if (recipient.jwk.crv !== header.epk.crv) throw new DidcommError(DidcommErrorCode.InvalidKey, "recipient key is not on the epk curve");
  const recipientKey = privateKeyObject(recipient.jwk);
  const epkKey = publicKeyObject(header.epk);
  const apu = header.apu === undefined ? EMPTY : b64uDecode(header.apu, "JWE apu");
  const apv = b64uDecode(header.apv, "JWE apv");

  let kek: Uint8Array;
  if (header.alg === ANON_ALG) {
    if (sender !== undefined) throw new DidcommError(DidcommErrorCode.SenderMismatch, "anoncrypt JWE has no sender to authenticate");
    const z = ecdhKeyObjects(recipientKey, epkKey);
    kek = concatKdf(z, KEK_BITS, ANON_ALG, apu, apv);
    z.fill(0);
  } else if (header.alg === AUTH_ALG) {
    if (sender === undefined) throw new DidcommError(DidcommErrorCode.KeyNotFound, "ECDH-1PU JWE needs the sender key");
    checkSender(jwe, apu, sender);
    const senderKey: KeyObject = publicKeyObject(sender.jwk);
    const z = concatZ(ecdhKeyObjects(recipientKey, epkKey), ecdhKeyObjects(recipientKey, senderKey));
    kek = concatKdf(z, KEK_BITS, AUTH_ALG, apu, apv, jwe.tag);
    z.fill(0);
  } else {
    throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported JWE alg");
  }

  const cek = unwrapA256KW(kek, entry.encryptedKey);
  kek.fill(0);
  try {
    return decryptContent(header.enc, cek, jwe.iv, jwe.ciphertext, jwe.tag, aadOf(jwe.protectedB64));
  } finally {
    cek.fill(0);
  }
}

/** The sender must be the one named by skid (or, lacking skid, by apu) and on the epk's curve. */
function checkSender(jwe: ParsedJwe, apu: Uint8Array, sender: KeyRef): void {
  const named = jwe.header.skid ?? utf8Decode(apu, "JWE apu");
  if (sender.kid !== named) throw new DidcommError(DidcommErrorCode.SenderMismatch, "sender key does not match skid");
  if (sender.jwk.crv !== jwe.header.epk.crv) throw new DidcommError(DidcommErrorCode.InvalidKey, "sender key is not on the epk curve");
}
