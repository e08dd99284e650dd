// Public API of the JOSE crypto primitives layer (ECDH, Concat KDF, key wrap, content encryption, signatures).
export { ecdh, ecdhKeyObjects } from "./ecdh.ts";
export { concatKdf } from "./kdf.ts";
export { wrapA256KW, unwrapA256KW } from "./keywrap.ts";
export {
  type ContentEnc,
  CONTENT_ENCS,
  isContentEnc,
  cekLength,
  ivLength,
  tagLength,
  encryptContent,
  decryptContent,
} from "./content.ts";
export { type SignAlg, isSignAlg, algForKey, signBytes, verifyBytes, SIGNATURE_BYTES } from "./sign.ts";
export { privateKeyObject, publicKeyObject } from "./keys.ts";
export { xchacha, nobleXChaCha, type XChaChaBackend } from "./xchacha.ts";
