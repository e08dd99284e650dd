// A read-through cache in front of a WebhookStore: every accepted forward asks "does this DID have a webhook?", which must not cost a KV round trip.
import type { Secret } from "../config/secret.ts";
import type { WebhookInput, WebhookPage, WebhookStore, WebhookView } from "../delivery/webhook-store.ts";
import type { Clock } from "../runtime/clock.ts";

export interface CachedWebhookStoreOptions {
  /** How long an answer (a webhook or "none") is reused. Writes through this node invalidate at once; writes on other nodes are seen after at most this long. */
  ttlMs: number;
  /** Entries kept (oldest evicted first). */
  maxEntries?: number;
  clock: Clock;
}

interface Entry {
  readonly view: WebhookView | null;
  readonly atMs: number;
}

/** Secrets are never cached: resolveSecret always reads the store (it runs once per attempt, not per forward). */
export class CachedWebhookStore implements WebhookStore {
  readonly #inner: WebhookStore;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Entry>();

  constructor(inner: WebhookStore, o: CachedWebhookStoreOptions) {
    if (!Number.isInteger(o.ttlMs) || o.ttlMs < 0 || o.ttlMs > 3_600_000) throw new RangeError("ttlMs must be an integer in 0..3600000");
    this.#inner = inner;
    this.#ttlMs = o.ttlMs;
    this.#max = o.maxEntries ?? 100_000;
    this.#clock = o.clock;
  }

  async put(w: WebhookInput): Promise<WebhookView> {
    this.#cache.delete(w.recipientDid);
    const v = await this.#inner.put(w);
    this.#cache.delete(w.recipientDid);
    return v;
  }

  async get(recipientDid: string): Promise<WebhookView | null> {
    const hit = this.#cache.get(recipientDid);
    const nowMs = this.#clock.monotonicMs();
    if (hit !== undefined && nowMs - hit.atMs < this.#ttlMs) return hit.view;
    const view = await this.#inner.get(recipientDid);
    this.#cache.delete(recipientDid);
    this.#cache.set(recipientDid, { view, atMs: nowMs });
    if (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return view;
  }

  async delete(recipientDid: string): Promise<boolean> {
    this.#cache.delete(recipientDid);
    const r = await this.#inner.delete(recipientDid);
    this.#cache.delete(recipientDid);
    return r;
  }

  list(page?: { limit?: number; after?: string | null }): Promise<WebhookPage> {
    return this.#inner.list(page);
  }

  resolveSecret(recipientDid: string): Promise<Secret | null> {
    return this.#inner.resolveSecret(recipientDid);
  }
}
