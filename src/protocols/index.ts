// Public surface of the protocol layer: handlers, router, problem reports, live mode.
export type { Handler, HandlerContext, LiveSession, ProtocolServices, ProtocolSpec, TransportInfo } from "./types.ts";
export { PIURI, TYPES, parseType, type ParsedType } from "./uris.ts";
export { Problems, ProtocolError, isProtocolError, toProtocolError, type ProblemName, type ProblemSpec, type RejectStatus } from "./errors.ts";
export { buildProblemReport } from "./problem-report.ts";
export { ProtocolRouter, createDefaultRouter, type DispatchResult } from "./registry.ts";
export { LiveRegistry, type PackForClient } from "./live.ts";
export { replyTargetOf, threadOf } from "./reply.ts";
export { findRecipient, dedupKeyOf } from "./routing.ts";
export { wildcardMatches } from "./discover-features.ts";
export { MAX_KEYLIST_UPDATES, DEFAULT_KEYLIST_PAGE } from "./mediation.ts";
export { MAX_DELIVERY_BYTES, MAX_RECEIVED_IDS } from "./pickup.ts";
