// Public API of DID handling: document model, resolution (peer:0/2/4, key, web), creation, caching.
export type { DidCommServiceEndpoint, DidDocument, DidResolver, Service, VerificationMethod } from "./types.ts";
export { absoluteRef, authenticationKeys, didOf, findVerificationMethod, keyAgreementKeys, resolveKey, vmToJwk } from "./document.ts";
export { DIDCOMM_MESSAGING, didcommServices } from "./service.ts";
export { createPeer2, peer2To3, resolvePeer2 } from "./peer2.ts";
export { createPeer4, peer4ShortForm, Peer4Resolver, resolvePeer4Long } from "./peer4.ts";
export { didPeer0FromJwk, resolvePeer0 } from "./peer0.ts";
export { didKeyFromJwk, resolveDidKey } from "./key.ts";
export { didWebUrl, WebResolver, type WebResolverOptions } from "./web.ts";
export { CachingResolver, type CachingOptions } from "./cache.ts";
export { createResolver, MethodRouter, StaticResolver, type HavenResolver, type ResolverOptions } from "./resolver.ts";
export { normalizeDocument } from "./normalize.ts";
export { toJwkDocument } from "./interop.ts";
