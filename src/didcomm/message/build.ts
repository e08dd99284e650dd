// Construction of outgoing plaintext messages with generated ids and validated headers.
import { randomUUID } from "node:crypto";
import { parseMessage } from "./parse.ts";
import type { Message, ParseMessageOptions } from "./types.ts";

export type NewMessageInput = Partial<Message> & { type: string };

/**
 * Builds a message: fills `id` (UUID v4), `body` ({}) and `created_time` (now, seconds) when
 * absent, drops undefined headers, then validates with `parseMessage` (throws InvalidMessage).
 */
export function newMessage(partial: NewMessageInput, opts: { now?: () => number } & ParseMessageOptions = {}): Message {
  const nowMs = opts.now ?? Date.now;
  const out: Record<string, unknown> = { id: randomUUID(), type: partial.type, body: {}, created_time: Math.floor(nowMs() / 1000) };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) out[k] = v;
  // Validate without the expiry check: building an already-expired message is the caller's choice.
  const { now: _now, ...bounds } = opts;
  return parseMessage(out, bounds);
}
