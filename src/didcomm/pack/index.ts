// Public API of the high-level DIDComm pack/unpack layer.
export * from "./types.ts";
export { packPlaintext } from "./plaintext.ts";
export { packSigned } from "./signed.ts";
export { packEncrypted } from "./encrypted.ts";
export { RawJson, serializeJsonBytes } from "./raw-json.ts";
export { unpack } from "./unpack.ts";
export { unpackForward } from "./forward.ts";
export { resolveRoute, MAX_ROUTING_KEYS, type RouteService } from "./routing.ts";
