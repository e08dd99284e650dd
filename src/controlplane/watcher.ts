// Feeds a MediationCache from a KV watch (last values, then updates); restarts the watch if it ever ends.
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { TimerHandle } from "../runtime/clock.ts";
import type { FallbackBreaker } from "./breaker.ts";
import { withTimeout } from "./kv-call.ts";
import type { MediationCache } from "./mediation-cache.ts";
import type { ResolvedFallback } from "./options.ts";

/**
 * `ready` turns true once the current watch has delivered the bucket's state as of its start, and
 * `everReady` once that happened at least once (the cache is then a complete, possibly stale, replica).
 * The first watch delivers the last value of every key; a restarted one resumes after the highest
 * revision seen (deletes arrive as DEL markers; the bucket has no TTL, so none is lost). After a
 * reconnect we restart it ourselves (`resync`): the client's ordered consumer would only notice a
 * consumer lost with a restarted server after missed heartbeats (~10 s), serving a stale cache.
 */
export class KvWatcher {
  ready = false;
  everReady = false;
  readonly #kv: KV;
  readonly #cache: MediationCache;
  readonly #breaker: FallbackBreaker;
  readonly #o: ResolvedFallback;
  #iter: QueuedIterator<KvWatchEntry> | undefined;
  #stopped = false;
  #retry: TimerHandle | undefined;
  /** Highest revision delivered by any watch: where a restarted one resumes. */
  #lastRevision = 0;
  #resyncing = false;
  readonly #readyWaiters = new Set<() => void>();

  constructor(kv: KV, cache: MediationCache, breaker: FallbackBreaker, o: ResolvedFallback) {
    this.#kv = kv;
    this.#cache = cache;
    this.#breaker = breaker;
    this.#o = o;
  }

  start(): void {
    void this.#run();
  }

  /** Resolves true once ready, false if `timeoutMs` passes first (or the watcher stops). */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = this.#o.clock.setTimeout(() => done(false), timeoutMs, { unref: true });
      const done = (ok: boolean): void => {
        this.#readyWaiters.delete(waiter);
        this.#o.clock.clearTimeout(timer);
        resolve(ok);
      };
      const waiter = (): void => done(this.ready);
      this.#readyWaiters.add(waiter);
    });
  }

  /** Restarts the watch now, resuming after the last revision seen; not ready until caught up. */
  resync(): void {
    if (this.#stopped || this.#iter === undefined) return; // not running: a restart is already scheduled
    this.#resyncing = true;
    this.ready = false;
    this.#iter.stop();
  }

  stop(): void {
    this.#stopped = true;
    this.ready = false;
    if (this.#retry !== undefined) this.#o.clock.clearTimeout(this.#retry);
    this.#iter?.stop();
    for (const w of [...this.#readyWaiters]) w();
  }

  async #run(): Promise<void> {
    const clock = this.#o.clock;
    const started = clock.monotonicMs();
    try {
      // A watch with nothing to deliver yields nothing, so "caught up" must be known from the start.
      const status = await withTimeout(clock, this.#o.kvTimeoutMs, () => this.#kv.status());
      const from = this.#lastRevision;
      const state = status.streamInfo.state;
      const empty = from === 0 ? state.messages === 0 : state.last_seq <= from;
      const iter = await withTimeout(clock, this.#o.kvTimeoutMs, () =>
        this.#kv.watch(from === 0 ? {} : { resumeFromRevision: from + 1 }),
      );
      this.#breaker.success(started);
      if (this.#stopped) {
        iter.stop();
        return;
      }
      this.#iter = iter;
      if (empty) this.#setReady();
      for await (const e of iter) {
        if (e.revision > this.#lastRevision) this.#lastRevision = e.revision;
        this.#cache.apply(e, "watch");
        // The last entry of the initial set is the first one flagged isUpdate.
        if (e.isUpdate && !this.ready) this.#setReady();
      }
    } catch (e) {
      if (!this.#stopped) {
        this.#breaker.failure(e);
        this.#o.log?.warn({ error: e instanceof Error ? e.name : typeof e }, "control-plane watch failed; restarting");
      }
    }
    this.ready = false;
    this.#iter = undefined;
    if (this.#stopped) return;
    if (this.#resyncing) {
      this.#resyncing = false;
      void this.#run();
      return;
    }
    this.#retry = clock.setTimeout(
      () => {
        this.#retry = undefined;
        void this.#run();
      },
      this.#o.probeIntervalMs,
      { unref: true },
    );
  }

  #setReady(): void {
    this.ready = true;
    this.everReady = true;
    for (const w of [...this.#readyWaiters]) w();
  }
}
