// The slice of the mediator core the transport depends on: receive(bytes, inbound) -> ReceiveOutcome.
// Structurally identical to src/mediator's types (transport -> mediator is the allowed direction); kept
// here so the transport can be tested with a small fake core.

/** A live connection the core may push messages to (live delivery over WebSocket). */
export interface LiveSession {
  readonly id: string;
  /** False once the socket is closing or closed. */
  readonly open: boolean;
  /** Sends one packed message; resolves false when it was not handed to an open socket (never throws). */
  send(packed: string): Promise<boolean>;
  /** Runs `cb` once when the session closes (at once, asynchronously, if already closed). */
  onClose(cb: () => void): void;
}

export interface InboundContext {
  kind: "http" | "ws";
  session?: LiveSession;
  receivedAtMs: number;
  requestId: string;
}

export type ReceiveOutcome =
  | { kind: "accepted"; replies: string[] }
  | {
      kind: "rejected";
      httpStatus: 400 | 403 | 409 | 413 | 422 | 429 | 503;
      code: string;
      reason: string;
      replies: string[];
    };

/** What the transport needs from MediatorCore. */
export interface MessageReceiver {
  receive(bytes: Uint8Array, inbound: InboundContext): Promise<ReceiveOutcome>;
}
