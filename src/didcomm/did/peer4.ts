// did:peer:4 (DIF numalgo 4): long form carries the input document, short form is its hash; create and resolve.
import { createHash } from "node:crypto";
import { utf8Decode, utf8Encode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { base58Decode, base58Encode } from "./base58.ts";
import { normalizeDocument } from "./normalize.ts";
import type { DidDocument, DidResolver } from "./types.ts";

export const PEER4_PREFIX = "did:peer:4";
/** Bounds base58 decoding work (quadratic) for an untrusted long form. */
export const MAX_PEER4_CHARS = 16_384;
const B58 = "[1-9A-HJ-NP-Za-km-z]";
const SHORT_RE = new RegExp(`^did:peer:4zQm${B58}{44}$`);
const LONG_RE = new RegExp(`^did:peer:4zQm${B58}{44}:z${B58}{6,}$`);
/** Multicodec "json" (0x0200) as an unsigned varint. */
const JSON_CODEC = [0x80, 0x04] as const;

function invalid(message: string, cause?: unknown): never {
  throw new DidcommError(DidcommErrorCode.DidInvalid, message, cause === undefined ? undefined : { cause });
}

/** "z" + base58btc(multihash sha2-256(utf8(encodedDoc))). */
function hashEncodedDoc(encodedDoc: string): string {
  const mh = new Uint8Array(34);
  mh[0] = 0x12;
  mh[1] = 0x20;
  mh.set(createHash("sha256").update(encodedDoc, "utf8").digest(), 2);
  return "z" + base58Encode(mh);
}

/** Creates the long and short form DIDs of an input document (no root `id`, relative ids). */
export function createPeer4(inputDoc: Record<string, unknown>): { longForm: string; shortForm: string } {
  if (inputDoc === null || typeof inputDoc !== "object" || Array.isArray(inputDoc)) {
    throw new DidcommError(DidcommErrorCode.Malformed, "did:peer:4 input document must be a JSON object");
  }
  if ("id" in inputDoc) throw new DidcommError(DidcommErrorCode.Malformed, "did:peer:4 input document must not have an id");
  const json = utf8Encode(JSON.stringify(inputDoc));
  const bytes = new Uint8Array(2 + json.length);
  bytes.set(JSON_CODEC, 0);
  bytes.set(json, 2);
  const encoded = "z" + base58Encode(bytes);
  const shortForm = PEER4_PREFIX + hashEncodedDoc(encoded);
  const longForm = `${shortForm}:${encoded}`;
  if (longForm.length > MAX_PEER4_CHARS) throw new DidcommError(DidcommErrorCode.TooLarge, "did:peer:4 input document is too large");
  return { longForm, shortForm };
}

/** The short form of a long form did:peer:4. */
export function peer4ShortForm(longForm: string): string {
  const colon = longForm.lastIndexOf(":");
  return longForm.slice(0, colon);
}

/** Decodes and verifies a long form; the document id is the long form, alsoKnownAs lists the short form. */
export function resolvePeer4Long(did: string): DidDocument {
  if (did.length > MAX_PEER4_CHARS) invalid("did:peer:4 is too long");
  if (!LONG_RE.test(did)) invalid("not a long form did:peer:4");
  const colon = did.lastIndexOf(":");
  const hash = did.slice(PEER4_PREFIX.length, colon);
  const encoded = did.slice(colon + 1);
  if (hashEncodedDoc(encoded) !== hash) invalid("did:peer:4 hash does not match its document");
  const bytes = base58Decode(encoded.slice(1), "did:peer:4 document");
  if (bytes[0] !== JSON_CODEC[0] || bytes[1] !== JSON_CODEC[1]) invalid("did:peer:4 document is not multicodec json");
  let raw: unknown;
  try {
    raw = JSON.parse(utf8Decode(bytes.subarray(2), "did:peer:4 document"));
  } catch (cause) {
    invalid("did:peer:4 document is not valid JSON", cause);
  }
  if (raw !== null && typeof raw === "object" && "id" in raw) invalid("did:peer:4 input document must not have an id");
  return normalizeDocument(raw, did, { expectId: false, alsoKnownAs: [did.slice(0, colon)] });
}

/**
 * Resolves did:peer:4. A short form only resolves after its long form was seen (resolved or `remember`ed);
 * the map of seen forms is bounded, oldest first out.
 */
export class Peer4Resolver implements DidResolver {
  readonly #seen = new Map<string, string>();
  readonly #maxRemembered: number;

  constructor(opts: { maxRemembered?: number } = {}) {
    const max = opts.maxRemembered ?? 10_000;
    if (!Number.isInteger(max) || max < 1 || max > 1_000_000) throw new RangeError("maxRemembered must be 1..1000000");
    this.#maxRemembered = max;
  }

  /** Verifies a long form and records it so its short form resolves. */
  remember(longForm: string): DidDocument {
    const doc = resolvePeer4Long(longForm);
    const short = peer4ShortForm(longForm);
    this.#seen.delete(short);
    this.#seen.set(short, longForm);
    if (this.#seen.size > this.#maxRemembered) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return doc;
  }

  async resolve(did: string): Promise<DidDocument> {
    return this.resolveSync(did);
  }

  resolveSync(did: string): DidDocument {
    if (typeof did !== "string" || !did.startsWith(PEER4_PREFIX)) invalid("not a did:peer:4");
    if (SHORT_RE.test(did)) {
      const long = this.#seen.get(did);
      if (long === undefined) {
        throw new DidcommError(DidcommErrorCode.DidNotResolved, "short form did:peer:4 seen without its long form", { retryable: false });
      }
      return resolvePeer4Long(long);
    }
    return this.remember(did);
  }
}
