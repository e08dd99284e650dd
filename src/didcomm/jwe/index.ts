// Public API of the JWE layer: DIDComm anoncrypt/authcrypt encryption, strict parsing, decryption.
export {
  type JweGeneral,
  type JweProtectedHeader,
  type KeyWrapAlg,
  type ParsedJwe,
  type ParseJweOptions,
  type EncryptOptions,
  ANON_ALG,
  AUTH_ALG,
  DIDCOMM_ENCRYPTED_TYP,
} from "./types.ts";
export { encryptAnon } from "./anoncrypt.ts";
export { encryptAuth } from "./authcrypt.ts";
export { parseJwe, isJweShape } from "./parse.ts";
export { decryptJwe } from "./decrypt.ts";
export { computeApv } from "./apv.ts";
