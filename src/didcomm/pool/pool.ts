// UnpackPool: unpacks envelopes on worker threads (anoncrypt needs only our keys) and in-thread when it must.
import { isAscii } from "node:buffer";
import { unpack } from "../pack/unpack.ts";
import type { UnpackOptions, UnpackResult } from "../pack/types.ts";
import { resolvePoolOptions, type ResolvedPoolOptions, type UnpackPoolOptions } from "./options.ts";
import { looksAuthcrypt } from "./sniff.ts";
import { fromWireError, type MainReason, type Reply, type ToWorker } from "./protocol.ts";
import { reattachForward } from "./reattach.ts";

/** Why a call ran on the main thread instead of a worker. */
export type InThreadReason = MainReason | "authcrypt" | "queue_full" | "no_worker" | "clock" | "too_large" | "worker_lost" | "closed";

export interface UnpackPoolStats {
  /** Workers running now (a dead one is being restarted). */
  workersAlive: number;
  /** Calls sent to a worker and not answered yet. */
  inFlight: number;
  /** Calls a worker answered (result or typed error). */
  viaWorker: number;
  /** Calls run in-thread, by reason. */
  inThread: Record<InThreadReason, number>;
  /** Worker restarts after an unexpected exit. */
  restarts: number;
}

interface Pending {
  packed: string | Uint8Array;
  opts: UnpackOptions;
  slot: Slot;
  resolve: (r: UnpackResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  generation: number;
  /** Ids of calls this worker holds. */
  pending: Set<number>;
  /** Consecutive deaths without an answer in between (drives the restart backoff). */
  deaths: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
}

const WORKER_URL = new URL("./worker.ts", import.meta.url).href;

export class UnpackPool {
  readonly #o: ResolvedPoolOptions;
  readonly #slots: Slot[];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #viaWorker = 0;
  #restarts = 0;
  readonly #inThread: Record<InThreadReason, number> = {
    resolver: 0, authcrypt: 0, no_recipient: 0, internal: 0, queue_full: 0, no_worker: 0, clock: 0, too_large: 0, worker_lost: 0, closed: 0,
  };

  constructor(options: UnpackPoolOptions) {
    this.#o = resolvePoolOptions(options);
    this.#slots = Array.from({ length: this.#o.workers }, (_, index) => ({
      index, worker: undefined, generation: 0, pending: new Set<number>(), deaths: 0, restartTimer: undefined,
    }));
    for (const slot of this.#slots) this.#start(slot);
  }

  /** Same contract as unpack(packed, ctx, opts): the same result, or a rejection with the same DidcommError code. */
  unpack(packed: string | Uint8Array, opts: UnpackOptions = {}): Promise<UnpackResult> {
    const why = this.#mustRunInThread(packed, opts);
    if (why !== undefined) return this.#runInThread(packed, opts, why);
    const slot = this.#leastLoaded();
    if (slot === undefined) return this.#runInThread(packed, opts, "no_worker");
    const id = this.#nextId++;
    const req: ToWorker = { kind: "unpack", id, packed: wireForm(packed) };
    if (opts.message !== undefined) req.message = opts.message;
    try {
      slot.worker!.postMessage(req);
    } catch {
      return this.#runInThread(packed, opts, "internal"); // e.g. options that cannot be cloned
    }
    return new Promise<UnpackResult>((resolve, reject) => {
      this.#pending.set(id, { packed, opts, slot, resolve, reject });
      slot.pending.add(id);
    });
  }

  stats(): UnpackPoolStats {
    return {
      workersAlive: this.#slots.filter((s) => s.worker !== undefined).length,
      inFlight: this.#pending.size,
      viaWorker: this.#viaWorker,
      inThread: { ...this.#inThread },
      restarts: this.#restarts,
    };
  }

  /**
   * Terminates worker `index` abruptly, as a crash would (for tests and operators). The pool learns of it
   * from the worker's close event, like any other exit: in-flight calls run in-thread, a replacement starts.
   */
  killWorker(index: number): void {
    const w = this.#slots[index]?.worker;
    if (w === undefined) throw new RangeError(`no running worker ${index}`);
    w.terminate();
  }

  /** Terminates the workers; calls still in flight finish in-thread; later calls run in-thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const waits: Promise<unknown>[] = [];
    for (const slot of this.#slots) {
      if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const w = slot.worker;
      slot.worker = undefined;
      w?.terminate();
      waits.push(...this.#rerunInThread(slot, "closed"));
    }
    await Promise.allSettled(waits);
  }

  #mustRunInThread(packed: string | Uint8Array, opts: UnpackOptions): InThreadReason | undefined {
    if (this.#closed) return "closed";
    // Expiry checks read the injected clock, which lives on this thread.
    if (opts.checkExpiry === true) return "clock";
    // Neither text nor bytes: unpack refuses it at once, typed; do that here.
    if (typeof packed !== "string" && !(packed instanceof Uint8Array)) return "internal";
    // Too large is refused in-thread before any parsing: no point copying it to a worker.
    if ((typeof packed === "string" ? packed.length : packed.byteLength) > this.#o.maxEnvelopeBytes) return "too_large";
    if (this.#pending.size >= this.#o.maxQueue) return "queue_full";
    // Authcrypt resolves the sender's DID, which only this thread can: skip the round trip to a worker.
    if (looksAuthcrypt(packed)) return "authcrypt";
    return undefined;
  }

  #leastLoaded(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.#slots) if (s.worker !== undefined && (best === undefined || s.pending.size < best.pending.size)) best = s;
    return best;
  }

  #runInThread(packed: string | Uint8Array, opts: UnpackOptions, why: InThreadReason): Promise<UnpackResult> {
    this.#inThread[why]++;
    return unpack(packed, this.#o.ctx, opts);
  }

  #start(slot: Slot): void {
    slot.restartTimer = undefined;
    if (this.#closed) return;
    let w: Worker;
    try {
      w = new Worker(WORKER_URL);
    } catch {
      // Threads exhausted or similar: calls run in-thread meanwhile; try again later.
      slot.restartTimer = setTimeout(() => this.#start(slot), this.#restartDelayMs(slot));
      return;
    }
    slot.worker = w;
    slot.generation++;
    w.addEventListener("message", (ev: MessageEvent<Reply>) => this.#onReply(slot, ev.data));
    // Bun ends a worker on an uncaught error; either way the slot treats it as dead.
    w.addEventListener("error", () => this.#lost(slot, w));
    w.addEventListener("close", () => this.#lost(slot, w));
    w.postMessage({ kind: "init", keys: this.#o.keys, maxEnvelopeBytes: this.#o.maxEnvelopeBytes } satisfies ToWorker);
    this.#o.onEvent({ kind: "worker_started", index: slot.index, generation: slot.generation });
  }

  #onReply(slot: Slot, reply: Reply): void {
    const p = this.#pending.get(reply.id);
    if (p === undefined || p.slot !== slot) return; // already re-run in-thread after a loss
    this.#pending.delete(reply.id);
    slot.pending.delete(reply.id);
    slot.deaths = 0;
    switch (reply.kind) {
      case "ok": {
        const result = JSON.parse(reply.json) as UnpackResult;
        // A reply that breaks the protocol is our bug, not the sender's: the in-thread unpack is the reference.
        if (reply.forward !== undefined && !reattachForward(result.message, reply.forward)) {
          this.#runInThread(p.packed, p.opts, "internal").then(p.resolve, p.reject);
          return;
        }
        this.#viaWorker++;
        return p.resolve(result);
      }
      case "error":
        this.#viaWorker++;
        return p.reject(fromWireError(reply.error));
      case "main":
        this.#runInThread(p.packed, p.opts, reply.reason).then(p.resolve, p.reject);
    }
  }

  /** A worker died (or was killed): its calls run in-thread, and a replacement starts with backoff. */
  #lost(slot: Slot, w: Worker): void {
    if (slot.worker !== w) return; // a stale event from a worker already replaced
    slot.worker = undefined;
    w.terminate();
    const lost = slot.pending.size;
    this.#rerunInThread(slot, "worker_lost");
    if (this.#closed) return;
    const delayMs = this.#restartDelayMs(slot);
    this.#restarts++;
    this.#o.onEvent({ kind: "worker_exit", index: slot.index, lostInFlight: lost, restartInMs: delayMs });
    slot.restartTimer = setTimeout(() => this.#start(slot), delayMs);
  }

  /** Exponential backoff over consecutive deaths (reset by any answer), capped. */
  #restartDelayMs(slot: Slot): number {
    const delayMs = Math.min(this.#o.restartMaxMs, this.#o.restartMinMs * 2 ** Math.min(slot.deaths, 20));
    slot.deaths++;
    return delayMs;
  }

  #rerunInThread(slot: Slot, why: InThreadReason): Promise<unknown>[] {
    const runs: Promise<unknown>[] = [];
    for (const id of slot.pending) {
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (p === undefined) continue;
      const run = this.#runInThread(p.packed, p.opts, why);
      run.then(p.resolve, p.reject);
      runs.push(run);
    }
    slot.pending.clear();
    return runs;
  }
}

/**
 * What crosses to the worker. An all-ASCII body (every envelope Haven produces: JSON of base64url) goes as a
 * string: posting a string costs the main thread about a third of posting the same bytes (measured ~1.1 vs
 * ~3 us for 4 KiB), and for ASCII the worker's unpack of the text is exactly its unpack of the bytes (same
 * UTF-8 decoding, same length for the size limit; a BOM is not ASCII). Other bytes go as bytes: structured
 * clone copies a view's whole backing buffer, and an HTTP body may be a small view into a large one, so
 * only the view's bytes are sent.
 */
function wireForm(packed: string | Uint8Array): string | Uint8Array {
  if (typeof packed === "string") return packed;
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  if (isAscii(buf)) return buf.toString("latin1");
  return packed.byteOffset === 0 && packed.byteLength === packed.buffer.byteLength ? packed : packed.slice();
}

export function createUnpackPool(options: UnpackPoolOptions): UnpackPool {
  return new UnpackPool(options);
}
