// Contract types of the mediator core: inbound context, receive outcome, dependencies.
import type { Config } from "../config/types.ts";
import type { UnpackPool } from "../didcomm/pool/index.ts";
import type { DidResolver } from "../didcomm/did/types.ts";
import type { SecretsResolver } from "../didcomm/secrets/types.ts";
import type { MailboxPort } from "../mailbox/port.ts";
import type { Logger } from "../observability/logger.ts";
import type { ProtocolRouter } from "../protocols/registry.ts";
import type { CoreMetrics } from "./metrics.ts";
import type { WebhookStore } from "../delivery/webhook-store.ts";
import type { LiveSession, OutboundEvents } from "../protocols/types.ts";
import type { RejectStatus } from "../protocols/errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { StorageDriver } from "../storage/types.ts";

export type { LiveSession, RejectStatus };

export interface InboundContext {
  kind: "http" | "ws";
  /** The WebSocket session the message came on (required for live mode). */
  session?: LiveSession;
  receivedAtMs: number;
  /** Correlates log lines; never derived from message content. */
  requestId: string;
}

export type ReceiveOutcome =
  | { kind: "accepted"; replies: string[] /* packed, for return route */ }
  | { kind: "rejected"; httpStatus: RejectStatus; code: string; reason: string; replies: string[] };

/** Sends a packed message to an HTTP(S) DIDComm endpoint; rejects on failure. */
export type PostMessage = (uri: string, packed: string, timeoutMs: number) => Promise<void>;

export interface MediatorCoreDeps {
  mediatorDid: string;
  resolver: DidResolver;
  /** Holds the mediator's private keys. */
  secrets: SecretsResolver;
  storage: StorageDriver;
  mailbox: MailboxPort;
  config: Config;
  clock: Clock;
  logger: Logger;
  /** Outbound replies when the sender did not ask for return_route (default: fetch POST). */
  post?: PostMessage;
  /** Timeout of one outbound POST. Default 5000, bounds 100..60000. */
  outboundTimeoutMs?: number;
  /** Most outbound POSTs in flight; further replies are dropped (best effort until milestone #5). Default 256. */
  maxOutboundInFlight?: number;
  /** Outbound delivery pipeline: replies without return route become durable "reply" events (else best-effort POSTs). */
  outbound?: OutboundEvents | null;
  /** Webhook registry for Haven Webhooks 1.0 (absent: that protocol answers "unavailable"). */
  webhooks?: WebhookStore | null;
  /** Protocol router (default: every protocol of milestone #3). */
  router?: ProtocolRouter;
  /** Off-thread unpacking (src/didcomm/pool); absent = in-thread. Same results and error codes either way. */
  unpackPool?: UnpackPool;
  /** Forwards accepted/rejected, request latency per protocol, unpack stage (src/mediator/metrics.ts). */
  metrics?: CoreMetrics;
}
