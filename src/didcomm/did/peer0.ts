// did:peer:0 (numalgo 0): the inception key as a multikey; resolution shares did:key's document builder.
export { didPeer0FromJwk, resolvePeer0 } from "./key.ts";
