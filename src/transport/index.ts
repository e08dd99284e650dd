// Public surface of the transport: the HTTP/WebSocket app, invitation, health checks and the core contract.
export type { InboundContext, LiveSession, MessageReceiver, ReceiveOutcome } from "./contract.ts";
export { createHttpApp, type AppTarget, type HttpApp, type HttpAppDeps, type HttpAppOptions } from "./http-app.ts";
export { buildInvitation, invitationUrl, makeInvitationInfo, parseInvitationUrl, OOB_INVITATION_TYPE, type InvitationInfo, type OobInvitation } from "./invitation.ts";
export { createHealth, diskCheck, eventLoopCheck, storageCheck, type CheckResult, type Health, type HealthCheck, type HealthReport } from "./health.ts";
export { LagMonitor, type LagMonitorOptions } from "./lag-monitor.ts";
export { DIDCOMM_ENCRYPTED, DIDCOMM_PLAIN, DIDCOMM_SIGNED, REQUEST_ID_HEADER, TransportErrorCode } from "./responses.ts";
export { escapeHtml } from "./page.ts";
