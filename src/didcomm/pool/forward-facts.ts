// What routing needs of a forward's attached envelope (its JSON text, JWE shape, content digest), computable on a worker.
import { isJweShape } from "../jwe/parse.ts";
import { FORWARD_TYPE } from "../message/forward.ts";
import type { Message } from "../message/types.ts";

/**
 * Derived from `attachments[0].data.json` of a forward whose only attachment carries exactly `{ json: object }`.
 * Pure functions of that object: whichever thread computes them gets the same values.
 */
export interface ForwardFacts {
  /** JSON.stringify of the attached object: the text routing stores. */
  json: string;
  /** isJweShape of the attached object. */
  jweShape: boolean;
  /** base64url SHA-256 over ciphertext, iv and tag, each followed by NUL (a missing or non-string field hashes as ""). */
  contentDigest: string;
}

const DIGEST_FIELDS = ["ciphertext", "iv", "tag"] as const;

/** The digest of a JWE's content fields: a fresh encryption of the same plaintext differs, a retry does not. */
export function jweContentDigest(jwe: Record<string, unknown>): string {
  // Bun's native hasher: the same SHA-256 as node:crypto's, at less cost per call (this runs once per forward).
  const h = new Bun.CryptoHasher("sha256");
  for (const field of DIGEST_FIELDS) {
    const v = jwe[field];
    h.update(typeof v === "string" ? v : "");
    h.update("\u0000"); // field separator: ("ab","c") and ("a","bc") must differ
  }
  return h.digest("base64url");
}

export function factsOfAttached(attached: Record<string, unknown>): ForwardFacts {
  return { json: JSON.stringify(attached), jweShape: isJweShape(attached), contentDigest: jweContentDigest(attached) };
}

/**
 * The attached object when `msg` is a forward of the common shape (one attachment, `data` holding only `json`, a
 * JSON object); else undefined (routing's full checks decide what such a message means).
 */
export function attachedObjectOf(msg: Message): Record<string, unknown> | undefined {
  if (msg.type !== FORWARD_TYPE) return undefined;
  const atts = msg.attachments;
  if (!Array.isArray(atts) || atts.length !== 1) return undefined;
  const data = atts[0]?.data as unknown;
  if (!isPlainObject(data)) return undefined;
  for (const k in data) if (k !== "json") return undefined;
  const json = data.json;
  return isPlainObject(json) ? json : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Facts a pool worker computed, keyed by the message object it handed back (weakly: they go with the message). */
const known = new WeakMap<Message, ForwardFacts>();

export function rememberForwardFacts(msg: Message, facts: ForwardFacts): void {
  known.set(msg, facts);
}

export function forgetForwardFacts(msg: Message): void {
  known.delete(msg);
}

/** Facts computed for this very message object by the pool, if any. */
export function knownForwardFacts(msg: Message): ForwardFacts | undefined {
  return known.get(msg);
}
