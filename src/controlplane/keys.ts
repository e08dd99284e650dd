// KV key derivation: DIDs are hashed so keys are short, subject-safe and of fixed length whatever the DID.
import { createHash } from "node:crypto";

/** base64url(SHA-256(input)): 43 chars of [A-Za-z0-9_-], all valid in a NATS KV key token. */
function digest(input: string): string {
  return createHash("sha256").update(input, "utf8").digest("base64url");
}

/** `m.<h(clientDid)>`: the client's mediation record. */
export function mediationKey(clientDid: string): string {
  return `m.${digest(clientDid)}`;
}

/** `k.<h(recipientDid)>`: which client owns this routing key. */
export function recipientKey(recipientDid: string): string {
  return `k.${digest(recipientDid)}`;
}

/** `r.<h(len:sender|id)>`: the length prefix keeps ("ab","c") and ("a","bc") apart. */
export function replayKey(sender: string, messageId: string): string {
  return `r.${digest(`${sender.length}:${sender}|${messageId}`)}`;
}

export const MEDIATION_PREFIX = "m.";
export const RECIPIENT_PREFIX = "k.";
