// A read-through cache in front of a WebhookStore: every accepted forward asks "does this DID have a webhook?", which must not cost a KV round trip.
import type { Secret } from "../config/secret.ts";
import type { WebhookInput, WebhookPage, WebhookStore, WebhookView } from "../delivery/webhook-store.ts";
import type { Clock } from "../runtime/clock.ts";

/** After a failed lookup, the stale answer (or "none") is served this long before the registry is asked again. */
const FAILED_LOOKUP_RETRY_MS = 1000;

export interface CachedWebhookStoreOptions {
  /** How long an answer (a webhook or "none") is reused. Writes through this node invalidate at once; writes on other nodes are seen after at most this long. */
  ttlMs: number;
  /** Entries kept (oldest evicted first; default 100_000). */
  maxEntries?: number;
  /**
   * Total characters of the cached DIDs (default 1 Mi, 1..256 Mi): keys are DIDs of up to a few KB (a did:peer:2 runs
   * to ~600 chars), so an entry bound alone let 10k mailboxes pin ~6 MiB of DID strings here.
   */
  maxKeyChars?: number;
  /** Longest wait for the inner store on a cache miss (default 250 ms); then the stale entry or "none" is used. */
  lookupTimeoutMs?: number;
  clock: Clock;
}

interface Entry {
  readonly view: WebhookView | null;
  readonly atMs: number;
}

/**
 * Secrets are always read from the store first (resolveSecret runs once per attempt, not per forward); the last one
 * read is kept only as a fallback for when the store is unreachable, so webhooks accepted during a NATS outage can
 * still be signed and sent from this node's outbox. A delete or put through this node drops it.
 */
export class CachedWebhookStore implements WebhookStore {
  readonly #inner: WebhookStore;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #maxKeyChars: number;
  /** Characters of the keys in #cache. */
  #keyChars = 0;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Entry>();
  readonly #lookupTimeoutMs: number;
  readonly #lastSecrets = new Map<string, Secret | null>();
  /** Lookups that failed or timed out and were answered from a stale entry or as "none". */
  lookupFailures = 0;

  constructor(inner: WebhookStore, o: CachedWebhookStoreOptions) {
    if (!Number.isInteger(o.ttlMs) || o.ttlMs < 0 || o.ttlMs > 3_600_000) throw new RangeError("ttlMs must be an integer in 0..3600000");
    this.#inner = inner;
    this.#ttlMs = o.ttlMs;
    this.#max = o.maxEntries ?? 100_000;
    this.#maxKeyChars = o.maxKeyChars ?? 1024 * 1024;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError("maxEntries must be a positive integer");
    if (!Number.isInteger(this.#maxKeyChars) || this.#maxKeyChars < 1 || this.#maxKeyChars > 256 * 1024 * 1024) {
      throw new RangeError("maxKeyChars must be an integer in 1..268435456");
    }
    this.#clock = o.clock;
    this.#lookupTimeoutMs = o.lookupTimeoutMs ?? 250;
  }

  /** The inner lookup, bounded: this runs inside a forward's request path. */
  #lookup(recipientDid: string): Promise<WebhookView | null> {
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => reject(new Error("webhook lookup timed out")), this.#lookupTimeoutMs, { unref: true });
      this.#inner.get(recipientDid).then(
        (v) => {
          this.#clock.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          this.#clock.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  async put(w: WebhookInput): Promise<WebhookView> {
    this.#forget(w.recipientDid);
    this.#lastSecrets.delete(w.recipientDid);
    const v = await this.#inner.put(w);
    this.#forget(w.recipientDid);
    return v;
  }

  /**
   * The cached answer while it is fresh, without a promise (this runs once per accepted forward); undefined when the
   * inner store would have to be asked (then call get).
   */
  peek(recipientDid: string): WebhookView | null | undefined {
    const hit = this.#cache.get(recipientDid);
    return hit !== undefined && this.#clock.monotonicMs() - hit.atMs < this.#ttlMs ? hit.view : undefined;
  }

  async get(recipientDid: string): Promise<WebhookView | null> {
    const hit = this.#cache.get(recipientDid);
    const nowMs = this.#clock.monotonicMs();
    if (hit !== undefined && nowMs - hit.atMs < this.#ttlMs) return hit.view;
    let view: WebhookView | null;
    try {
      view = await this.#lookup(recipientDid);
    } catch (err) {
      // The registry is unreachable (NATS partition): accepting the forward matters more than its notification.
      // Serve the last answer we had, however old; with none, report "no webhook" and count it, so an outage
      // costs at most notifications for DIDs this node has not looked up before -- never a message.
      this.lookupFailures++;
      const fallback = hit !== undefined ? hit.view : null;
      // Remember the fallback for a short while: without this every forward to this DID would wait the full
      // lookup timeout again while the registry stays unreachable (a cut-off node's accepts slowed to a crawl).
      const retryAfterMs = Math.min(this.#ttlMs, FAILED_LOOKUP_RETRY_MS);
      this.#remember(recipientDid, fallback, nowMs - this.#ttlMs + retryAfterMs);
      return fallback;
    }
    this.#remember(recipientDid, view, nowMs);
    return view;
  }

  /** Most recent last (the Map's order), bounded: the oldest entry goes first. */
  #remember(recipientDid: string, view: WebhookView | null, atMs: number): void {
    this.#forget(recipientDid);
    if (recipientDid.length > this.#maxKeyChars) return; // would evict everything for one entry: not worth caching
    this.#cache.set(recipientDid, { view, atMs });
    this.#keyChars += recipientDid.length;
    // Oldest first (Map iteration is insertion order); the new key is last, so it survives.
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.#max && this.#keyChars <= this.#maxKeyChars) break;
      this.#forget(oldest);
    }
  }

  #forget(recipientDid: string): void {
    if (this.#cache.delete(recipientDid)) this.#keyChars -= recipientDid.length;
  }

  async delete(recipientDid: string): Promise<boolean> {
    this.#forget(recipientDid);
    this.#lastSecrets.delete(recipientDid);
    const r = await this.#inner.delete(recipientDid);
    this.#forget(recipientDid);
    return r;
  }

  list(page?: { limit?: number; after?: string | null }): Promise<WebhookPage> {
    return this.#inner.list(page);
  }

  async resolveSecret(recipientDid: string): Promise<Secret | null> {
    try {
      const secret = await this.#inner.resolveSecret(recipientDid);
      this.#lastSecrets.delete(recipientDid);
      this.#lastSecrets.set(recipientDid, secret);
      if (this.#lastSecrets.size > this.#max) {
        const oldest = this.#lastSecrets.keys().next().value;
        if (oldest !== undefined) this.#lastSecrets.delete(oldest);
      }
      return secret;
    } catch (err) {
      if (!this.#lastSecrets.has(recipientDid)) throw err;
      this.lookupFailures++;
      return this.#lastSecrets.get(recipientDid) ?? null;
    }
  }
}
