// WebhookStore over NATS KV (cluster mode): bucket haven_webhooks, key w.<b64url(recipient DID)>, msgpack value; any node reads and writes.
import { decode, encode } from "@msgpack/msgpack";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Secret } from "../config/secret.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";
import { checkDid, checkPage, validateWebhook, type WebhookInput, type WebhookPage, type WebhookStore, type WebhookView } from "./webhook-store.ts";

export const DEFAULT_WEBHOOK_BUCKET = "haven_webhooks";
/** list() reads every key: refuse to walk more than this many. */
const MAX_LISTED_KEYS = 1_000_000;

export interface KvWebhookStoreOptions {
  bucket?: string;
  /** Default 3, 1..5. */
  replicas?: number;
  /** JetStream request timeout. Default 2000, 50..60_000. */
  timeoutMs?: number;
  clock?: Clock;
}

interface Stored {
  did: string;
  url: string;
  secret: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export class KvWebhookStore implements WebhookStore {
  readonly #kv: KV;
  readonly #clock: Clock;

  private constructor(kv: KV, clock: Clock) {
    this.#kv = kv;
    this.#clock = clock;
  }

  static async open(nc: NatsConnection, opts: KvWebhookStoreOptions = {}): Promise<KvWebhookStore> {
    const js = jetstream(nc, { timeout: checkInt("timeoutMs", opts.timeoutMs ?? 2000, 50, 60_000) });
    try {
      const kv = await new Kvm(js).create(opts.bucket ?? DEFAULT_WEBHOOK_BUCKET, { history: 1, replicas: checkInt("replicas", opts.replicas ?? 3, 1, 5), maxValueSize: 16 * 1024 });
      return new KvWebhookStore(kv, opts.clock ?? systemClock);
    } catch (e) {
      throw new DeliveryError(DeliveryErrorCode.StoreUnavailable, "cannot open the webhook bucket", { retryable: true, cause: e });
    }
  }

  async put(w: WebhookInput): Promise<WebhookView> {
    const v = validateWebhook(w);
    const now = this.#clock.nowMs();
    const prev = await this.#read(v.recipientDid);
    const rec: Stored = { did: v.recipientDid, url: v.url, secret: v.secret, createdAtMs: prev?.createdAtMs ?? now, updatedAtMs: now };
    await call(() => this.#kv.put(keyOf(v.recipientDid), encode(rec)));
    return view(rec);
  }

  async get(recipientDid: string): Promise<WebhookView | null> {
    const r = await this.#read(checkDid(recipientDid));
    return r === null ? null : view(r);
  }

  async delete(recipientDid: string): Promise<boolean> {
    const key = keyOf(checkDid(recipientDid));
    if ((await this.#read(recipientDid)) === null) return false;
    await call(() => this.#kv.delete(key));
    return true;
  }

  async list(page?: { limit?: number; after?: string | null }): Promise<WebhookPage> {
    const { limit, after } = checkPage(page);
    const dids: string[] = [];
    await call(async () => {
      for await (const k of await this.#kv.keys("w.*")) {
        if (dids.length >= MAX_LISTED_KEYS) break;
        const did = Buffer.from(k.slice(2), "base64url").toString("utf8");
        if (after === null || did > after) dids.push(did);
      }
    });
    dids.sort();
    const items: WebhookView[] = [];
    for (const did of dids.slice(0, limit)) {
      const r = await this.#read(did);
      if (r !== null) items.push(view(r));
    }
    return { items, next: dids.length > limit ? dids[limit - 1]! : null };
  }

  async resolveSecret(recipientDid: string): Promise<Secret | null> {
    const r = await this.#read(checkDid(recipientDid));
    return r === null ? null : new Secret(r.secret);
  }

  async #read(did: string): Promise<Stored | null> {
    const e = await call(() => this.#kv.get(keyOf(did)));
    if (e === null || e.operation !== "PUT") return null;
    try {
      const o = decode(e.value) as Stored;
      if (typeof o?.did !== "string" || typeof o.url !== "string" || typeof o.secret !== "string") throw new Error("shape");
      return o;
    } catch (cause) {
      throw new DeliveryError(DeliveryErrorCode.Storage, "corrupt webhook record", { cause });
    }
  }
}

function keyOf(did: string): string {
  return `w.${Buffer.from(did, "utf8").toString("base64url")}`;
}

function view(r: Stored): WebhookView {
  return { recipientDid: r.did, url: r.url, createdAtMs: r.createdAtMs, updatedAtMs: r.updatedAtMs };
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DeliveryError) throw e;
    throw new DeliveryError(DeliveryErrorCode.StoreUnavailable, "webhook KV call failed", { retryable: true, cause: e });
  }
}
