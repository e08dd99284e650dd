// A DID resolution cache: TTL + LRU bound, concurrent lookups share one resolution, short negative TTL.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { DidDocument, DidResolver } from "./types.ts";

export interface CachingOptions {
  /** How long a resolved document is served from cache (default 5 min, 0..1 day). */
  ttlMs?: number;
  /**
   * How long a failure is remembered (default 5 s, 0..ttlMs). Short on purpose: it only damps repeated
   * lookups of a bad or unreachable DID (e.g. did:web fetch amplification), never pins an outage.
   */
  negativeTtlMs?: number;
  /** Most entries kept (default 10_000, 1..1_000_000); least recently used are evicted first. */
  maxEntries?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

type Entry = { doc: DidDocument; error?: undefined; expiresAt: number } | { doc?: undefined; error: DidcommError; expiresAt: number };

function bounded(value: number | undefined, def: number, min: number, max: number, name: string): number {
  const v = value ?? def;
  if (!Number.isFinite(v) || v < min || v > max) throw new RangeError(`${name} must be between ${min} and ${max}`);
  return v;
}

/** Deep-freezes a document: cached documents are shared between callers and must not change. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class CachingResolver implements DidResolver {
  readonly #inner: DidResolver;
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Map iteration order is insertion order: re-inserting on a hit makes the first key the LRU one. */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<DidDocument>>();

  constructor(inner: DidResolver, opts: CachingOptions = {}) {
    this.#inner = inner;
    this.#ttlMs = bounded(opts.ttlMs, 300_000, 0, 86_400_000, "ttlMs");
    this.#negativeTtlMs = bounded(opts.negativeTtlMs, Math.min(5_000, this.#ttlMs), 0, this.#ttlMs, "negativeTtlMs");
    this.#maxEntries = bounded(opts.maxEntries, 10_000, 1, 1_000_000, "maxEntries");
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops one DID (or everything) from the cache. */
  invalidate(did?: string): void {
    if (did === undefined) this.#entries.clear();
    else this.#entries.delete(did);
  }

  resolve(did: string): Promise<DidDocument> {
    const entry = this.#entries.get(did);
    if (entry !== undefined) {
      if (entry.expiresAt > this.#now()) {
        this.#entries.delete(did);
        this.#entries.set(did, entry);
        return entry.error === undefined ? Promise.resolve(entry.doc) : Promise.reject(entry.error);
      }
      this.#entries.delete(did);
    }
    const pending = this.#inflight.get(did);
    if (pending !== undefined) return pending;
    const p = this.#load(did);
    this.#inflight.set(did, p);
    return p;
  }

  async #load(did: string): Promise<DidDocument> {
    try {
      const doc = deepFreeze(await this.#inner.resolve(did));
      this.#store(did, { doc, expiresAt: this.#now() + this.#ttlMs });
      return doc;
    } catch (e) {
      const error = e instanceof DidcommError ? e : new DidcommError(DidcommErrorCode.DidNotResolved, "DID resolution failed", { cause: e });
      if (this.#negativeTtlMs > 0) this.#store(did, { error, expiresAt: this.#now() + this.#negativeTtlMs });
      throw error;
    } finally {
      this.#inflight.delete(did);
    }
  }

  #store(did: string, entry: Entry): void {
    if (this.#ttlMs === 0) return;
    this.#entries.delete(did);
    this.#entries.set(did, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
