// Public surface of the mediator core: receive(bytes) -> outcome, and its contract types.
export { MediatorCore, createMediatorCore } from "./core.ts";
export type { InboundContext, LiveSession, MediatorCoreDeps, PostMessage, ReceiveOutcome, RejectStatus } from "./types.ts";
export { ENCRYPTED_CONTENT_TYPE, fetchPost } from "./outbound.ts";
export { claimedSender, unpackProblem } from "./envelope-errors.ts";
