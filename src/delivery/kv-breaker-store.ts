// BreakerStore over NATS KV (bucket haven_breakers): key = b64url(destination), every write a CAS (kv.create / kv.update with revision).
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { systemClock, type Clock } from "../runtime/clock.ts";
import type { BreakerStore, VersionedRecord } from "./breaker-store.ts";
import { decodeRecord, encodeRecord, MAX_RECORD_BYTES, type BreakerRecord } from "./breaker-record.ts";
import { destinationKey } from "./destination.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";

export const DEFAULT_BREAKER_BUCKET = "haven_breakers";

export interface KvBreakerStoreOptions {
  /** Bucket name (default "haven_breakers"). */
  bucket?: string;
  /** Stream replicas (default 1; 3 in a production cluster). 1..5. */
  replicas?: number;
  /** Deadline per KV call (default 500 ms, 10..60_000); also the client's JetStream request timeout. */
  timeoutMs?: number;
  /** Clock for the deadline (ManualClock tests rely on the client's real-time timeout instead). */
  clock?: Clock;
}

/** The server rejected a write because the revision moved: a CAS conflict, i.e. the call itself worked. */
export function isCasConflict(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class KvBreakerStore implements BreakerStore {
  readonly kind = "shared" as const;
  readonly #kv: KV;
  readonly #timeoutMs: number;
  readonly #clock: Clock;

  private constructor(kv: KV, timeoutMs: number, clock: Clock) {
    this.#kv = kv;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  /** Creates the bucket if missing (history 1: only the current record matters) and binds to it. */
  static async open(nc: NatsConnection, opts: KvBreakerStoreOptions = {}): Promise<KvBreakerStore> {
    const bucket = opts.bucket ?? DEFAULT_BREAKER_BUCKET;
    const replicas = checkInt("replicas", opts.replicas ?? 1, 1, 5);
    const timeoutMs = checkInt("timeoutMs", opts.timeoutMs ?? 500, 10, 60_000);
    const clock = opts.clock ?? systemClock;
    const js = jetstream(nc, { timeout: timeoutMs });
    let kv: KV;
    try {
      kv = await new Kvm(js).create(bucket, { history: 1, replicas, maxValueSize: MAX_RECORD_BYTES });
    } catch (e) {
      throw unavailable("cannot open the breaker bucket", e);
    }
    return new KvBreakerStore(kv, timeoutMs, clock);
  }

  async get(destination: string): Promise<VersionedRecord | null> {
    const entry = await this.#call("get", () => this.#kv.get(destinationKey(destination)));
    if (entry === null || entry.operation !== "PUT") return null;
    return { record: decodeRecord(entry.value), revision: entry.revision };
  }

  async create(destination: string, record: BreakerRecord): Promise<number | null> {
    return this.#write("create", () => this.#kv.create(destinationKey(destination), encodeRecord(record)));
  }

  async update(destination: string, record: BreakerRecord, revision: number): Promise<number | null> {
    return this.#write("update", () => this.#kv.update(destinationKey(destination), encodeRecord(record), revision));
  }

  async ping(): Promise<void> {
    await this.#call("status", () => this.#kv.status());
  }

  async #write(op: string, fn: () => Promise<number>): Promise<number | null> {
    try {
      return await this.#call(op, fn);
    } catch (e) {
      if (e instanceof DeliveryError && isCasConflict(e.cause)) return null;
      throw e;
    }
  }

  /** One call with a deadline; every failure becomes StoreUnavailable with the original as cause. */
  #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = this.#clock.setTimeout(
        () => {
          if (done) return;
          done = true;
          reject(unavailable(`breaker KV ${op} timed out after ${this.#timeoutMs} ms`));
        },
        this.#timeoutMs,
        { unref: true },
      );
      const settle = (ok: boolean, v: unknown) => {
        if (done) return; // a late answer after our deadline is dropped: every write is CAS-guarded
        done = true;
        this.#clock.clearTimeout(timer);
        if (ok) resolve(v as T);
        else reject(unavailable(`breaker KV ${op} failed`, v));
      };
      let p: Promise<T>;
      try {
        p = fn();
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then((v) => settle(true, v), (e: unknown) => settle(false, e));
    });
  }
}

function unavailable(message: string, cause?: unknown): DeliveryError {
  return new DeliveryError(DeliveryErrorCode.StoreUnavailable, message, { retryable: true, cause });
}
