// Routing 2.0 forward: find the enrolled recipient of `next`, then store the attached envelope durably.
import { createHash } from "node:crypto";
import { findVerificationMethod } from "../didcomm/did/document.ts";
import { resolvePeer2 } from "../didcomm/did/peer2.ts";
import { isJweShape } from "../didcomm/jwe/parse.ts";
import { didPart } from "../didcomm/message/did-syntax.ts";
import { parseForward } from "../didcomm/message/forward.ts";
import type { Message } from "../didcomm/message/types.ts";
import { isDidcommError } from "../didcomm/errors.ts";
import { Problems, ProtocolError } from "./errors.ts";
import type { Handler, HandlerContext, ProtocolSpec } from "./types.ts";
import { PIURI } from "./uris.ts";

export interface RecipientMatch {
  /** The client DID whose mailbox receives the message. */
  mailbox: string;
  /** The keylist entry that matched `next`. */
  recipientDid: string;
}

/**
 * The keylist entry `next` names. `next` may be a DID or a DID URL (a key id), and a key id may use
 * the `#key-N` form or an older multibase-fingerprint fragment: try the exact value, the DID, and
 * (did:peer:2 only, resolved locally) the key's canonical id.
 */
export async function findRecipient(ctx: HandlerContext, next: string): Promise<RecipientMatch | undefined> {
  const mediations = ctx.services.storage.mediations;
  const candidates = [next];
  const did = didPart(next);
  if (did !== next) {
    candidates.push(did);
    if (did.startsWith("did:peer:2")) {
      try {
        const vm = findVerificationMethod(resolvePeer2(did), next);
        if (vm !== undefined) {
          // Every spelling of the same key, whichever one the client registered.
          const mb = vm.publicKeyMultibase;
          const forms = [vm.id];
          if (mb !== undefined && mb.length > 9) forms.push(`${did}#${mb.slice(1)}`, `${did}#${mb.slice(1, 9)}`);
          for (const f of forms) if (!candidates.includes(f)) candidates.splice(candidates.length - 1, 0, f);
        }
      } catch (e) {
        if (!isDidcommError(e)) throw e; // an unparsable DID simply matches nothing more
      }
    }
  }
  // A lookup that cannot answer (control plane unreachable: a "no" would not be final) must not hide a spelling that
  // does answer, nor turn into "not enrolled": try every spelling, then report the failure if none matched.
  let failure: unknown;
  for (const candidate of candidates) {
    let owner: string | undefined;
    try {
      owner = await mediations.ownerOf(candidate);
    } catch (e) {
      failure ??= e;
      continue;
    }
    if (owner !== undefined) return { mailbox: owner, recipientDid: candidate };
  }
  if (failure !== undefined) throw failure;
  return undefined;
}

/**
 * Idempotency key: an authenticated sender's message id, else a SHA-256 over the attached JWE's
 * ciphertext, iv and tag (a fresh encryption of the same plaintext differs, a retry does not).
 */
export function dedupKeyOf(msg: Message, ctx: HandlerContext, forwarded: Record<string, unknown>): string {
  const h = createHash("sha256");
  // Hashed so the key stays short whatever the DID's length (storage bounds keys).
  if (ctx.sender.kind !== "anonymous") return `id:${h.update(ctx.sender.did).update("\u0000").update(msg.id).digest("base64url")}`;
  for (const field of ["ciphertext", "iv", "tag"] as const) {
    const v = forwarded[field];
    h.update(typeof v === "string" ? v : "");
    h.update("\u0000"); // field separator: ("ab","c") and ("a","bc") must differ
  }
  return `sha256:${h.digest("base64url")}`;
}

/** When the stored copy expires: the configured TTL, or the forward's expires_time if sooner. */
function expiresAtMs(msg: Message, ctx: HandlerContext): number {
  const ttlMs = ctx.services.config.limits.messageTtlSeconds * 1000;
  const byTtl = ctx.receivedAtMs + ttlMs;
  return msg.expires_time === undefined ? byTtl : Math.min(byTtl, msg.expires_time * 1000);
}

const onForward: Handler = async (msg, ctx) => {
  let parsed: { next: string; forwarded: Record<string, unknown> };
  try {
    parsed = parseForward(msg);
  } catch (e) {
    throw new ProtocolError(Problems.invalidMessage, ["forward needs body.next and one attached envelope"], { cause: e });
  }
  if (!isJweShape(parsed.forwarded)) throw new ProtocolError(Problems.invalidMessage, ["the forwarded attachment is not a JWE"]);
  const expires = expiresAtMs(msg, ctx);
  if (expires <= ctx.services.clock.nowMs()) throw new ProtocolError(Problems.expired);
  const match = await findRecipient(ctx, parsed.next);
  if (match === undefined) throw new ProtocolError(Problems.recipientNotEnrolled);
  const payload = Buffer.from(JSON.stringify(parsed.forwarded), "utf8");
  const dedupKey = dedupKeyOf(msg, ctx, parsed.forwarded);
  const { result } = await ctx.services.mailbox.deliver({
    id: crypto.randomUUID(),
    mailbox: match.mailbox,
    recipientDid: match.recipientDid,
    payload,
    receivedAtMs: ctx.receivedAtMs,
    expiresAtMs: expires,
    dedupKey,
  });
  if (result.status === "quota_exceeded") throw new ProtocolError(Problems.quotaExceeded, [result.limit]);
  // Queued before the 202 (a failure is a retryable 503; the retry finds the message stored and the event
  // id, derived from mailbox + dedup key, already queued): each accepted forward yields one notification.
  const outbound = ctx.services.outbound;
  if (outbound != null) {
    const dedupId = createHash("sha256").update(match.mailbox).update("\u0000").update(dedupKey).digest("base64url");
    await outbound.messageAccepted({ mailbox: match.mailbox, recipientDid: match.recipientDid, dedupId, receivedAtMs: ctx.receivedAtMs });
  }
  return [];
};

export const routingProtocol: ProtocolSpec = {
  piuri: PIURI.routing,
  roles: ["mediator"],
  handlers: { forward: onForward },
};
