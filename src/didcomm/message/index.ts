// Public API of the DIDComm v2 plaintext message model.
export * from "./types.ts";
export { parseMessage } from "./parse.ts";
export { parseAttachment } from "./attachment.ts";
export { newMessage, type NewMessageInput } from "./build.ts";
export { FORWARD_TYPE, buildForward, parseForward } from "./forward.ts";
export { isDid, isDidUrl, didPart } from "./did-syntax.ts";
export { issueFromPrior, verifyFromPrior, type FromPriorClaims, type VerifiedFromPrior } from "./from-prior.ts";
