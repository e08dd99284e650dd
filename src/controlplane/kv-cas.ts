// Conditional KV writes that are true compare-and-swaps on every nats-server version (per-key CAS is broken on clustered streams before 2.9.21).
import type { NatsConnection } from "@nats-io/nats-core";
import { headers } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { casModeFor, isCasConflict } from "../delivery/kv-breaker-store.ts";
import type { Clock } from "../runtime/clock.ts";

/**
 * - "subject": the KV client's own conditional writes (Nats-Expected-Last-Subject-Sequence). On a clustered
 *   stream, nats-server before 2.9.21 checks that header only against the store before proposing, so
 *   concurrent writers expecting the same revision can all win (nats-io/nats-server#4320).
 * - "stream": read the stream's last sequence L (leader), then the key's last message (leader), check the
 *   expectation ourselves, and publish with Nats-Expected-Last-Sequence = L. That header is checked against
 *   the sequence including writes in flight, so the write lands only if nothing at all was written after L:
 *   the key is still as we read it. A write to any other key also fails it; that is retried (re-read L and
 *   the key, re-check) up to maxAttempts. Writes of one KvCas are serialised, so a node never competes with
 *   itself, and after its own write it knows L without asking (the leader acks only applied writes).
 * - "auto": "stream" when the connected server is older than 2.9.21 (casModeFor), else "subject".
 */
export type KvCasMode = "auto" | "subject" | "stream";

/** The key was not at the expected revision (or, for create, held): a definite "not applied". */
export class KvCasConflictError extends Error {
  override readonly name = "KvCasConflictError";
}

/** The write was not applied (contention beyond maxAttempts) or its outcome is unknown (deadline). Retryable. */
export class KvCasUnavailableError extends Error {
  override readonly name = "KvCasUnavailableError";
}

export interface KvCasOptions {
  bucket: string;
  mode?: KvCasMode;
  /**
   * Stream-mode attempts per write when other keys' writes keep moving the stream (default 16, 1..64). Each
   * attempt costs three requests; the write's deadline bounds the loop as well, so this only caps the work.
   */
  maxAttempts?: number;
  clock: Clock;
}

export interface KvCasStats {
  /** Conditional writes that succeeded. */
  writes: number;
  /** Stream mode: attempts lost to a write on another key (then re-read and retried). */
  retries: number;
  /** Writes refused because the key itself was not at the expected revision. */
  conflicts: number;
  /** Stream mode: writes given up after maxAttempts. */
  exhausted: number;
}

/** Last message of one key as the stream leader has it: seq 0 when the key has none (never written or expired). */
interface KeyState {
  seq: number;
  op: "PUT" | "DEL" | "PURGE";
}

export class KvCas {
  readonly mode: "subject" | "stream";
  readonly stats: KvCasStats = { writes: 0, retries: 0, conflicts: 0, exhausted: 0 };
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #prefix: string;
  readonly #maxAttempts: number;
  readonly #clock: Clock;
  /** Stream mode: the queue of this instance's writes (one at a time). */
  #tail: Promise<unknown> = Promise.resolve();
  /** Seq of our last acknowledged write while we believe nothing came after it (null: ask the leader). */
  #knownLastSeq: number | null = null;

  private constructor(kv: KV, js: JetStreamClient, jsm: JetStreamManager, o: KvCasOptions, mode: "subject" | "stream") {
    this.#kv = kv;
    this.#js = js;
    this.#jsm = jsm;
    this.#stream = `KV_${o.bucket}`;
    this.#prefix = `$KV.${o.bucket}.`;
    this.#clock = o.clock;
    this.mode = mode;
    const maxAttempts = o.maxAttempts ?? 16;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 64) throw new RangeError("maxAttempts must be within 1..64");
    this.#maxAttempts = maxAttempts;
  }

  /** `callTimeoutMs` bounds each request the stream mode makes (each write also has its own deadline). */
  static async open(nc: NatsConnection, kv: KV, o: KvCasOptions & { callTimeoutMs: number }): Promise<KvCas> {
    const requested = o.mode ?? "auto";
    const mode = requested === "auto" ? casModeFor(nc.info?.version) : requested;
    if (mode !== "subject" && mode !== "stream") throw new RangeError("cas mode must be auto, subject or stream");
    const js = jetstream(nc, { timeout: o.callTimeoutMs, checkAPI: false });
    const jsm = await jetstreamManager(nc, { timeout: o.callTimeoutMs, checkAPI: false });
    return new KvCas(kv, js, jsm, o, mode);
  }

  /** Writes only if the key has no live value (never written, expired, deleted or purged). Returns the revision. */
  create(key: string, value: Uint8Array, timeoutMs: number): Promise<number> {
    if (this.mode === "subject") return this.#subject(() => this.#kv.create(key, value));
    return this.#streamWrite(key, value, null, (cur) => cur.op !== "PUT", timeoutMs);
  }

  /** Writes only if the key's last message (any operation) is `expected`; 0 = the key has no message at all. */
  put(key: string, value: Uint8Array, expected: number, timeoutMs: number): Promise<number> {
    if (this.mode === "subject") return this.#subject(() => this.#kv.put(key, value, { previousSeq: expected }));
    return this.#streamWrite(key, value, null, (cur) => cur.seq === expected, timeoutMs);
  }

  /** Writes a delete marker only if the key's last message is `expected` (> 0). Returns the marker's revision (stream mode) or 0. */
  async delete(key: string, expected: number, timeoutMs: number): Promise<number> {
    if (!Number.isSafeInteger(expected) || expected < 1) throw new RangeError("delete needs the revision to replace");
    if (this.mode === "subject") {
      await this.#subject(() => this.#kv.delete(key, { previousSeq: expected }));
      return 0;
    }
    return this.#streamWrite(key, new Uint8Array(0), "DEL", (cur) => cur.seq === expected, timeoutMs);
  }

  /**
   * The key's live value and revision as the stream leader has it (never a replica's direct-get answer,
   * which may lag), or null when it has none (never written, expired, deleted or purged).
   */
  async read(key: string): Promise<{ value: Uint8Array; revision: number } | null> {
    const m = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: this.#prefix + key });
    if (m === null) return null;
    const op = m.header?.get("KV-Operation");
    if (op === "DEL" || op === "PURGE") return null;
    return { value: m.data, revision: m.seq };
  }

  /**
   * The key's last message, whatever its operation, as the stream leader has it; null when it has none.
   * Conflict resolution must read here: a replica's direct-get answer may still show a value that a delete
   * or another client's write has already replaced.
   */
  async last(key: string): Promise<{ key: string; value: Uint8Array; revision: number; operation: "PUT" | "DEL" | "PURGE" } | null> {
    const m = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: this.#prefix + key });
    if (m === null) return null;
    const op = m.header?.get("KV-Operation");
    return { key, value: m.data, revision: m.seq, operation: op === "DEL" || op === "PURGE" ? op : "PUT" };
  }

  async #subject<T>(op: () => Promise<T>): Promise<T> {
    try {
      const v = await op();
      this.stats.writes++;
      return v;
    } catch (e) {
      if (isCasConflict(e)) {
        this.stats.conflicts++;
        throw new KvCasConflictError("kv revision conflict", { cause: e });
      }
      throw e;
    }
  }

  #streamWrite(key: string, value: Uint8Array, op: "DEL" | null, ok: (cur: KeyState) => boolean, timeoutMs: number): Promise<number> {
    const deadlineMs = this.#clock.monotonicMs() + timeoutMs;
    const run = this.#tail.then(() => this.#attempts(this.#prefix + key, value, op, ok, deadlineMs));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #attempts(subject: string, value: Uint8Array, op: "DEL" | null, ok: (cur: KeyState) => boolean, deadlineMs: number): Promise<number> {
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      // Order matters: L first, then the key. The leader has applied everything up to L, so the key read is
      // current as of L at least; a publish expecting L proves nothing was written after it.
      const lastSeq = this.#knownLastSeq ?? (await this.#bounded(this.#streamLastSeq(), deadlineMs));
      this.#knownLastSeq = null;
      const cur = await this.#bounded(this.#keyState(subject), deadlineMs);
      if (!ok(cur)) {
        this.stats.conflicts++;
        throw new KvCasConflictError("kv revision conflict");
      }
      const h = headers();
      if (op !== null) h.set("KV-Operation", op);
      try {
        const ack = await this.#bounded(this.#js.publish(subject, value, { headers: h, expect: { lastSequence: lastSeq } }), deadlineMs);
        this.#knownLastSeq = ack.seq;
        this.stats.writes++;
        return ack.seq;
      } catch (e) {
        if (!isCasConflict(e)) throw e;
        this.stats.retries++; // some write (any key) came after L: re-read and re-check
      }
    }
    this.stats.exhausted++;
    throw new KvCasUnavailableError(`kv write contended: gave up after ${this.#maxAttempts} attempts`);
  }

  async #streamLastSeq(): Promise<number> {
    return (await this.#jsm.streams.info(this.#stream)).state.last_seq;
  }

  /** STREAM.MSG.GET is answered by the stream leader, whatever the bucket's allow_direct says. */
  async #keyState(subject: string): Promise<KeyState> {
    const m = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: subject });
    if (m === null) return { seq: 0, op: "DEL" };
    const op = m.header?.get("KV-Operation");
    return { seq: m.seq, op: op === "DEL" || op === "PURGE" ? op : "PUT" };
  }

  /** Races one request against the write's deadline: past it the outcome is unknown and the queue moves on. */
  #bounded<T>(p: Promise<T>, deadlineMs: number): Promise<T> {
    const leftMs = deadlineMs - this.#clock.monotonicMs();
    if (leftMs <= 0) {
      p.catch(() => undefined);
      return Promise.reject(new KvCasUnavailableError("kv write deadline passed"));
    }
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => reject(new KvCasUnavailableError("kv write deadline passed")), leftMs, { unref: true });
      p.then(
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
}
