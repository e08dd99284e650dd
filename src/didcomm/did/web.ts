// did:web: DID -> https URL, bounded fetch (timeout, size, no redirects), and document validation.
import { utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { normalizeDocument } from "./normalize.ts";
import type { DidDocument, DidResolver } from "./types.ts";

export interface WebResolverOptions {
  /** Whole-request deadline including the body (default 5000, 10..60000). */
  timeoutMs?: number;
  /** Largest document accepted (default 256 KiB, 1 KiB..4 MiB). */
  maxBytes?: number;
  /** Injectable fetch (default globalThis.fetch). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Overrides the DID -> URL mapping (tests point it at a local http server). */
  urlFor?: (did: string) => string;
}

const MAX_DID_CHARS = 2048;
const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$/;
const SEGMENT_RE = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;

function invalid(message: string, cause?: unknown): never {
  throw new DidcommError(DidcommErrorCode.DidInvalid, message, cause === undefined ? undefined : { cause });
}

function notResolved(message: string, retryable: boolean, cause?: unknown): never {
  throw new DidcommError(DidcommErrorCode.DidNotResolved, message, { retryable, cause });
}

function bounded(value: number | undefined, def: number, min: number, max: number, name: string): number {
  const v = value ?? def;
  if (!Number.isFinite(v) || v < min || v > max) throw new RangeError(`${name} must be between ${min} and ${max}`);
  return v;
}

/** did:web:host(%3Aport)?(:path)* -> https://host/.well-known/did.json or https://host/path/did.json. */
export function didWebUrl(did: string): string {
  if (typeof did !== "string" || !did.startsWith("did:web:")) invalid("not a did:web");
  if (did.length > MAX_DID_CHARS) invalid("did:web is too long");
  const segments = did.slice("did:web:".length).split(":");
  const decoded = segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch (cause) {
      invalid("did:web has invalid percent-encoding", cause);
    }
  });
  const host = decoded[0]!;
  if (!HOST_RE.test(host)) invalid("did:web host is not a valid host[:port]");
  const path = decoded.slice(1);
  for (const seg of path) {
    if (!SEGMENT_RE.test(seg) || seg === "." || seg === "..") invalid("did:web path segment is invalid");
  }
  const dir = path.length === 0 ? ".well-known" : path.map(encodeURIComponent).join("/");
  return `https://${host.toLowerCase()}/${dir}/did.json`;
}

/** Reads at most `maxBytes` of a response body; more is DidInvalid (the document is not acceptable). */
async function readBounded(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    invalid(`did:web document exceeds ${maxBytes} bytes`);
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      invalid(`did:web document exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Resolves did:web over HTTPS. Redirects are refused (a document must live where the DID says).
 * Network errors, timeouts and 5xx are retryable DidNotResolved; 4xx is non-retryable DidNotResolved;
 * an oversized, non-JSON or mismatched document is DidInvalid.
 */
export class WebResolver implements DidResolver {
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #fetch: (url: string, init: RequestInit) => Promise<Response>;
  readonly #urlFor: (did: string) => string;

  constructor(opts: WebResolverOptions = {}) {
    this.#timeoutMs = bounded(opts.timeoutMs, 5000, 10, 60_000, "timeoutMs");
    this.#maxBytes = bounded(opts.maxBytes, 256 * 1024, 1024, 4 * 1024 * 1024, "maxBytes");
    this.#fetch = opts.fetch ?? ((url, init) => fetch(url, init));
    this.#urlFor = opts.urlFor ?? didWebUrl;
  }

  async resolve(did: string): Promise<DidDocument> {
    const canonical = didWebUrl(did); // validates the DID even when tests override the URL
    const url = this.#urlFor === didWebUrl ? canonical : this.#urlFor(did);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    let body: Uint8Array;
    try {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          signal: controller.signal,
          redirect: "error",
          headers: { accept: "application/did+json, application/did+ld+json, application/json" },
        });
      } catch (cause) {
        notResolved(controller.signal.aborted ? "did:web fetch timed out" : "did:web fetch failed", true, cause);
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        notResolved(`did:web fetch returned HTTP ${res.status}`, res.status >= 500 || res.status === 429);
      }
      try {
        body = await readBounded(res, this.#maxBytes);
      } catch (cause) {
        if (cause instanceof DidcommError) throw cause;
        notResolved(controller.signal.aborted ? "did:web fetch timed out" : "did:web body read failed", true, cause);
      }
    } finally {
      clearTimeout(timer);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(utf8Decode(body, "did:web document"));
    } catch (cause) {
      invalid("did:web document is not valid JSON", cause);
    }
    return normalizeDocument(raw, did, { expectId: true });
  }
}
