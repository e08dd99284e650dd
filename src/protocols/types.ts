// Shared types of the protocol handlers: the handler signature and the context each one receives.
import type { Config } from "../config/types.ts";
import type { WebhookStore } from "../delivery/webhook-store.ts";
import type { Message } from "../didcomm/message/types.ts";
import type { SenderAuth } from "../didcomm/pack/types.ts";
import type { MailboxPort } from "../mailbox/port.ts";
import type { Logger } from "../observability/logger.ts";
import type { Clock } from "../runtime/clock.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { LiveRegistry } from "./live.ts";

/** A persistent connection (WebSocket) that can carry live deliveries. Implemented by the transport. */
export interface LiveSession {
  id: string;
  readonly open: boolean;
  /** Resolves true only if the frame was handed to an open socket. */
  send(packed: string): Promise<boolean>;
  onClose(cb: () => void): void;
}

export interface TransportInfo {
  kind: "http" | "ws";
  session?: LiveSession;
}

/**
 * The outbound delivery pipeline as handlers see it (implemented by src/node/delivery-events.ts). Every
 * method is durable when it resolves (the event is queued) and idempotent, so a retried request queues nothing twice.
 */
export interface OutboundEvents {
  /**
   * A forward for `mailbox` was accepted: queues one webhook event if `recipientDid` (else the mailbox's
   * client DID) has a webhook. `dedupId` is stable across retries of the same forward.
   */
  messageAccepted(e: { mailbox: string; recipientDid: string; dedupId: string; receivedAtMs: number }): Promise<void>;
  /** Queues a packed reply for POSTing to `url` (the recipient's DIDComm HTTP endpoint). */
  reply(e: { id: string; toDid: string; url: string; body: Uint8Array; contentType: string }): Promise<void>;
}

export interface ProtocolServices {
  mailbox: MailboxPort;
  storage: StorageDriver;
  config: Config;
  clock: Clock;
  logger: Logger;
  live: LiveRegistry;
  /** Webhook registry (Haven Webhooks 1.0); null/absent = the protocol answers "unavailable". */
  webhooks?: WebhookStore | null;
  /** Outbound pipeline; null/absent = no webhook events (replies fall back to best-effort POSTs). */
  outbound?: OutboundEvents | null;
}

export interface HandlerContext {
  /** Proven sender (from unpack metadata). */
  sender: SenderAuth;
  /** Where replies go: the authenticated sender, else the claimed `from`, else nobody. */
  replyTo: string | undefined;
  mediatorDid: string;
  transport: TransportInfo;
  services: ProtocolServices;
  /** When the transport received the message (ms since epoch). */
  receivedAtMs: number;
}

/** Plaintext replies; empty = no reply. Throws ProtocolError for problem reports. */
export type Handler = (msg: Message, ctx: HandlerContext) => Promise<Message[]>;

export interface ProtocolSpec {
  piuri: string;
  /** Roles Haven plays, disclosed by Discover Features. */
  roles?: string[];
  /** By message name ("status-request"). */
  handlers: Record<string, Handler>;
}
