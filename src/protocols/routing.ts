// Routing 2.0 forward: find the enrolled recipient of `next`, then store the attached envelope durably.
import { findVerificationMethod } from "../didcomm/did/document.ts";
import { resolvePeer2 } from "../didcomm/did/peer2.ts";
import { didPart } from "../didcomm/message/did-syntax.ts";
import { FORWARD_TYPE, parseForward } from "../didcomm/message/forward.ts";
import type { Message } from "../didcomm/message/types.ts";
import { isDidcommError } from "../didcomm/errors.ts";
import { isJweShape } from "../didcomm/jwe/parse.ts";
import { jweContentDigest, knownForwardFacts, type ForwardFacts } from "../didcomm/pool/forward-facts.ts";
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
 * Spellings per key-id `next` already worked out (did:peer:2 resolution costs ~10 us per forward). Bounded in entries
 * and in key length (a did:peer:2 can run to kilobytes): at most ~1024 x 5 x 2 KiB held; oldest out.
 */
const MAX_CACHED_SPELLINGS = 1024;
const MAX_CACHED_NEXT_CHARS = 2048;
const spellingsCache = new Map<string, readonly string[]>();

/**
 * Every keylist spelling of `next`, most specific first: the exact value, (did:peer:2 key ids) the key's other id
 * forms, then the bare DID. A pure function of `next` (did:peer:2 resolves locally), so it is cached.
 */
function spellingsOf(next: string): readonly string[] {
  const did = didPart(next);
  if (did === next) return [next]; // a bare DID: nothing to work out
  const hit = spellingsCache.get(next);
  if (hit !== undefined) return hit;
  const candidates = [next, did];
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
  if (next.length <= MAX_CACHED_NEXT_CHARS) {
    if (spellingsCache.size >= MAX_CACHED_SPELLINGS) {
      const oldest = spellingsCache.keys().next();
      if (!oldest.done) spellingsCache.delete(oldest.value);
    }
    spellingsCache.set(next, candidates);
  }
  return candidates;
}

/**
 * The keylist entry `next` names. `next` may be a DID or a DID URL (a key id), and a key id may use
 * the `#key-N` form or an older multibase-fingerprint fragment: try the exact value, the DID, and
 * (did:peer:2 only, resolved locally) the key's canonical id.
 */
export async function findRecipient(ctx: HandlerContext, next: string): Promise<RecipientMatch | undefined> {
  const mediations = ctx.services.storage.mediations;
  const candidates = spellingsOf(next);
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
  return dedupKeyFrom(msg, ctx, () => jweContentDigest(forwarded));
}

/** dedupKeyOf, with the content digest computed only when it is needed (or already known). */
function dedupKeyFrom(msg: Message, ctx: HandlerContext, contentDigest: () => string): string {
  // Hashed so the key stays short whatever the DID's length (storage bounds keys).
  if (ctx.sender.kind !== "anonymous") {
    return `id:${new Bun.CryptoHasher("sha256").update(ctx.sender.did).update("\u0000").update(msg.id).digest("base64url")}`;
  }
  return `sha256:${contentDigest()}`;
}

/** The outbound event id of an accepted forward: stable across retries of that forward (mailbox + dedup key). */
export function eventDedupIdOf(mailbox: string, dedupKey: string): string {
  return new Bun.CryptoHasher("sha256").update(mailbox).update("\u0000").update(dedupKey).digest("base64url");
}

/**
 * `next` values that passed parseForward's DID URL check (a regex costing microseconds on long did:peer:2 DIDs).
 * Bounded: at most 4096 values of at most 2048 chars.
 */
const MAX_KNOWN_NEXT = 4096;
const knownNext = new Set<string>();

/**
 * parseForward, minus the DID URL regex for a `next` already validated: the common case (a forward to a recipient
 * seen before, the envelope in data.json) skips it; anything else takes parseForward's full checks. When the unpack
 * pool already worked out the attached envelope's facts (on a worker), they are used as they are.
 */
function forwardParts(msg: Message): ForwardParts {
  const next = msg.body.next;
  if (msg.type === FORWARD_TYPE && typeof next === "string" && knownNext.has(next)) {
    const facts = knownForwardFacts(msg);
    if (facts !== undefined) return { next, facts };
    const atts = msg.attachments;
    if (atts !== undefined && atts.length === 1) {
      const data = atts[0]!.data as unknown;
      if (isPlainObject(data) && isPlainObject(data.json)) return { next, forwarded: data.json };
    }
  }
  const parsed = parseForward(msg);
  if (parsed.next.length <= MAX_CACHED_NEXT_CHARS) {
    if (knownNext.size >= MAX_KNOWN_NEXT) knownNext.clear(); // rare: cheaper than LRU bookkeeping per forward
    knownNext.add(parsed.next);
  }
  const facts = knownForwardFacts(msg);
  return facts === undefined ? parsed : { next: parsed.next, facts };
}

/** The forwarded envelope as the pool's worker described it (facts), or as the parsed object (in-thread unpack). */
type ForwardParts = { next: string; facts: ForwardFacts } | { next: string; forwarded: Record<string, unknown> };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** When the stored copy expires: the configured TTL, or the forward's expires_time if sooner. */
function expiresAtMs(msg: Message, ctx: HandlerContext): number {
  const ttlMs = ctx.services.config.limits.messageTtlSeconds * 1000;
  const byTtl = ctx.receivedAtMs + ttlMs;
  return msg.expires_time === undefined ? byTtl : Math.min(byTtl, msg.expires_time * 1000);
}

const onForward: Handler = async (msg, ctx) => {
  let parsed: ForwardParts;
  try {
    parsed = forwardParts(msg);
  } catch (e) {
    throw new ProtocolError(Problems.invalidMessage, ["forward needs body.next and one attached envelope"], { cause: e });
  }
  if (!("facts" in parsed ? parsed.facts.jweShape : isJweShape(parsed.forwarded))) throw new ProtocolError(Problems.invalidMessage, ["the forwarded attachment is not a JWE"]);
  const expires = expiresAtMs(msg, ctx);
  if (expires <= ctx.services.clock.nowMs()) throw new ProtocolError(Problems.expired);
  const match = await findRecipient(ctx, parsed.next);
  if (match === undefined) throw new ProtocolError(Problems.recipientNotEnrolled);
  // Re-serialised (on the worker when the pool unpacked it): unpack hands back the decrypted forward parsed, not its
  // bytes (the recipient parses it strictly).
  const p = parsed;
  const payload = Buffer.from("facts" in p ? p.facts.json : JSON.stringify(p.forwarded), "utf8");
  const dedupKey = dedupKeyFrom(msg, ctx, () => ("facts" in p ? p.facts.contentDigest : jweContentDigest(p.forwarded)));
  const { result } = await ctx.services.mailbox.deliver({
    // Time-ordered (UUIDv7): new rows append to the storage index instead of landing at random places in it.
    id: Bun.randomUUIDv7(),
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
    const mailbox = match.mailbox;
    let dedupId: string | undefined;
    await outbound.messageAccepted({
      mailbox,
      recipientDid: match.recipientDid,
      // Computed on first read: most recipients have no webhook, and then nobody reads it.
      get dedupId(): string {
        return (dedupId ??= eventDedupIdOf(mailbox, dedupKey));
      },
      receivedAtMs: ctx.receivedAtMs,
    });
  }
  return [];
};

export const routingProtocol: ProtocolSpec = {
  piuri: PIURI.routing,
  roles: ["mediator"],
  handlers: { forward: onForward },
};
