// Public API of the JWS layer: DIDComm signed envelopes (sign, strict parse, verify).
export { type JwsGeneral, type ParsedJws, type ParseJwsOptions, DIDCOMM_SIGNED_TYP } from "./types.ts";
export { signJws, signingInput } from "./sign.ts";
export { parseJws, isJwsShape } from "./parse.ts";
export { verifyJwsSignature } from "./verify.ts";
