// BreakerStore over NATS KV (bucket haven_breakers): key = b64url(destination), every write a CAS that is serialisable even on nats-server < 2.9.21, reads from the stream leader.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { systemClock, type Clock } from "../runtime/clock.ts";
import type { BreakerStore, VersionedRecord } from "./breaker-store.ts";
import { decodeRecord, encodeRecord, MAX_RECORD_BYTES, type BreakerRecord } from "./breaker-record.ts";
import { destinationKey } from "./destination.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";

export const DEFAULT_BREAKER_BUCKET = "haven_breakers";

/**
 * How a write is made conditional:
 * - "subject": KV update with the key's revision (Nats-Expected-Last-Subject-Sequence). In a clustered
 *   stream, nats-server before 2.9.21 checks it only before proposing the write, so concurrent writes with
 *   the same revision can all succeed (nats-io/nats-server#4320): lost updates, double probes, leaked slots.
 * - "stream": the write expects the stream's last sequence (Nats-Expected-Last-Sequence), which those
 *   servers check against the sequence including writes in flight, so exactly one of concurrent writes
 *   wins. The revision handed out is then the stream's last sequence as of the read; a write to any other
 *   destination in the bucket also makes it stale (one more read and retry).
 * - "auto" (default): "stream" when the connected server is older than 2.9.21, else "subject".
 */
export type BreakerCasMode = "auto" | "subject" | "stream";

export interface KvBreakerStoreOptions {
  /** Bucket name (default "haven_breakers"). */
  bucket?: string;
  /** Stream replicas (default 1; 3 in a production cluster). 1..5. */
  replicas?: number;
  /**
   * Deadline per store operation (default 2000 ms, 10..60_000); also the client's JetStream request timeout.
   * Past it the call counts as a store failure (and repeated failures switch the node to its in-memory
   * breaker), so it must cover a busy server's answer time, not just a round trip on an idle one.
   */
  timeoutMs?: number;
  /** Default "auto". */
  cas?: BreakerCasMode;
  /** Clock for the deadline (ManualClock tests rely on the client's real-time timeout instead). */
  clock?: Clock;
}

/** First nats-server release whose clustered Nats-Expected-Last-Subject-Sequence check is serialisable. */
const SUBJECT_CAS_SAFE_FROM: readonly [number, number, number] = [2, 9, 21];

/** The server rejected a write because the revision moved: a CAS conflict, i.e. the call itself worked. */
export function isCasConflict(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** "stream" for servers before 2.9.21 (and for unparsable versions: the safe choice). */
export function casModeFor(serverVersion: string | undefined): "subject" | "stream" {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(serverVersion ?? "");
  if (m === null) return "stream";
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== SUBJECT_CAS_SAFE_FROM[i]) return v[i]! > SUBJECT_CAS_SAFE_FROM[i]! ? "subject" : "stream";
  }
  return "subject";
}

export class KvBreakerStore implements BreakerStore {
  readonly kind = "shared" as const;
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;
  readonly #cas: "subject" | "stream";
  readonly #timeoutMs: number;
  readonly #clock: Clock;

  private constructor(kv: KV, js: JetStreamClient, jsm: JetStreamManager, bucket: string, cas: "subject" | "stream", timeoutMs: number, clock: Clock) {
    this.#kv = kv;
    this.#js = js;
    this.#jsm = jsm;
    this.#bucket = bucket;
    this.#cas = cas;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  /** Creates the bucket if missing (history 1: only the current record matters) and binds to it. */
  static async open(nc: NatsConnection, opts: KvBreakerStoreOptions = {}): Promise<KvBreakerStore> {
    const bucket = opts.bucket ?? DEFAULT_BREAKER_BUCKET;
    const replicas = checkInt("replicas", opts.replicas ?? 1, 1, 5);
    const timeoutMs = checkInt("timeoutMs", opts.timeoutMs ?? 2000, 10, 60_000);
    const clock = opts.clock ?? systemClock;
    const cas = opts.cas === undefined || opts.cas === "auto" ? casModeFor(nc.info?.version) : opts.cas;
    if (cas !== "subject" && cas !== "stream") throw new DeliveryError(DeliveryErrorCode.Invalid, "cas must be auto, subject or stream");
    const js = jetstream(nc, { timeout: timeoutMs });
    let kv: KV;
    let jsm: JetStreamManager;
    try {
      // allow_direct false: reads go to the stream leader. A direct get may be answered by a lagging
      // replica, and a decision taken without a write (e.g. "this completion's token is gone") must not
      // rest on a stale record: a completion ignored that way would hold its slot until holderTtlMs.
      kv = await new Kvm(js).create(bucket, { history: 1, replicas, maxValueSize: MAX_RECORD_BYTES, allow_direct: false });
      jsm = await js.jetstreamManager();
    } catch (e) {
      throw unavailable("cannot open the breaker bucket", e);
    }
    return new KvBreakerStore(kv, js, jsm, bucket, cas, timeoutMs, clock);
  }

  /** Which conditional write this store uses. */
  get casMode(): "subject" | "stream" {
    return this.#cas;
  }

  get(destination: string): Promise<VersionedRecord | null> {
    return this.#call("get", async () => {
      const key = destinationKey(destination);
      if (this.#cas === "subject") {
        const entry = await this.#kv.get(key);
        if (entry === null || entry.operation !== "PUT") return null;
        return { record: decodeRecord(entry.value), revision: entry.revision };
      }
      // The stream's last sequence first, then the record: the leader has applied everything up to that
      // sequence, so the record read is current as of it, and a write expecting it proves nothing came after.
      const lastSeq = await this.#streamLastSeq();
      const entry = await this.#kv.get(key);
      if (entry === null || entry.operation !== "PUT") return null;
      return { record: decodeRecord(entry.value), revision: lastSeq };
    });
  }

  create(destination: string, record: BreakerRecord): Promise<number | null> {
    const key = destinationKey(destination);
    const value = encodeRecord(record);
    if (this.#cas === "subject") return this.#write("create", () => this.#kv.create(key, value));
    return this.#write("create", async () => {
      const lastSeq = await this.#streamLastSeq();
      const entry = await this.#kv.get(key);
      if (entry !== null && entry.operation === "PUT") return null; // someone created it: re-read and decide again
      return (await this.#js.publish(this.#subject(key), value, { expect: { lastSequence: lastSeq }, timeout: this.#timeoutMs })).seq;
    });
  }

  update(destination: string, record: BreakerRecord, revision: number): Promise<number | null> {
    const key = destinationKey(destination);
    const value = encodeRecord(record);
    if (this.#cas === "subject") return this.#write("update", () => this.#kv.update(key, value, revision));
    return this.#write("update", async () => (await this.#js.publish(this.#subject(key), value, { expect: { lastSequence: revision }, timeout: this.#timeoutMs })).seq);
  }

  async ping(): Promise<void> {
    await this.#call("status", () => this.#kv.status());
  }

  async #streamLastSeq(): Promise<number> {
    const info = await this.#jsm.streams.info(`KV_${this.#bucket}`);
    return info.state.last_seq;
  }

  #subject(key: string): string {
    return `$KV.${this.#bucket}.${key}`;
  }

  async #write(op: string, fn: () => Promise<number | null>): Promise<number | null> {
    try {
      return await this.#call(op, fn);
    } catch (e) {
      if (e instanceof DeliveryError && isCasConflict(e.cause)) return null;
      throw e;
    }
  }

  /** One operation with a deadline; every failure becomes StoreUnavailable with the original as cause. */
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
        // A late answer after our deadline is dropped. The write may still have landed: the breaker's
        // operations are idempotent by token (see breaker-logic.ts), so the caller's retry sorts it out.
        if (done) return;
        done = true;
        this.#clock.clearTimeout(timer);
        if (ok) resolve(v as T);
        else if (v instanceof DeliveryError) reject(v); // e.g. a record that does not decode
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
