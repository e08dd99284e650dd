// Public API of the DIDComm v2 layer: messages, envelopes (JWE/JWS), DIDs, keys, secrets and the mediator identity.
// Callers outside src/didcomm import from here; the sub-folders' index files are the finer-grained surfaces.
export { DidcommError, DidcommErrorCode, isDidcommError } from "./errors.ts";
export * from "./keys/index.ts";
export * from "./message/index.ts";
export * from "./pack/index.ts";
export * from "./did/index.ts";
export * from "./secrets/index.ts";
export * from "./identity/index.ts";
export { isJweShape, parseJwe, type JweGeneral } from "./jwe/index.ts";
export { isJwsShape, parseJws, type JwsGeneral } from "./jws/index.ts";
