// Shared types of the protocol handlers: the handler signature and the context each one receives.
import type { Config } from "../config/types.ts";
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

export interface ProtocolServices {
  mailbox: MailboxPort;
  storage: StorageDriver;
  config: Config;
  clock: Clock;
  logger: Logger;
  live: LiveRegistry;
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
