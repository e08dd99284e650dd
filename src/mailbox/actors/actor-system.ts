// Supervised actor runtime: one serial actor per key, crash isolation with backoff restarts, passivation.
import type { Clock } from "../../runtime/clock.ts";
import { cryptoRandom, type Random } from "../../runtime/random.ts";
import { ActorCell, type PendingAsk } from "./cell.ts";
import type { ActorBehavior, ActorInfo } from "./types.ts";
import {
  ActorSystemStoppedError,
  ActorUnavailableError,
  MailboxOverloadedError,
  invariant,
  isExpectedError,
} from "./errors.ts";
import { resolveActorOptions, type ActorLogger, type ActorSystemOptions, type ResolvedActorOptions } from "./options.ts";
import { RestartTracker } from "./supervisor.ts";
import { SweepTimer } from "./sweep-timer.ts";

export type { ActorBehavior, ActorInfo } from "./types.ts";

/**
 * Semantics (each one asserted or tested):
 * - `ask(key, op)`: ops on one key run strictly one at a time, in arrival order; different keys
 *   run concurrently. At most `maxQueue` asks wait per key, beyond that MailboxOverloadedError.
 * - A domain error (DomainError, `expected === true`, or `behavior.isExpectedError`) rejects only
 *   its ask. Any other error crashes the actor: that ask rejects with the error, the state is
 *   dropped, and after a full-jitter backoff the state is re-created; queued asks wait and run on
 *   it. A crash never touches any other actor.
 * - More than `maxRestarts` crashes within `windowMs` escalate: `onEscalate(key, error)` is called
 *   once, queued and new asks reject with ActorUnavailableError until `cooldownMs` has passed.
 *   Restarting and escalated actors are never passivated (that would bypass backoff/cool-down);
 *   the crash history lives with the actor, so an idle-passivated actor starts with a clean slate.
 * - An actor idle for `idlePassivateMs` is passivated; above `maxActors` live actors the least
 *   recently used idle one is passivated. One timer for the whole system (the sweep), so a
 *   hundred thousand actors cost a hundred thousand Map entries, not timers.
 * - Keys are not bounded here: callers validate untrusted keys before asking (MailboxActor does).
 * - Re-entrancy: an op must not `ask` its own key and await the answer (it would wait for itself).
 */
export class ActorSystem<S> {
  readonly #behavior: ActorBehavior<S>;
  readonly #opts: ResolvedActorOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #onEscalate: ((key: string, error: unknown) => void) | undefined;
  readonly #onRestart: ((key: string) => void) | undefined;
  readonly #logger: ActorLogger | undefined;
  /** Insertion order == LRU order: every touch deletes and re-inserts, so the oldest is first. */
  readonly #cells = new Map<string, ActorCell<S>>();
  readonly #restarting = new Set<ActorCell<S>>();
  readonly #timer: SweepTimer;
  #stopping = false;
  #stopped: Promise<void> | null = null;

  constructor(behavior: ActorBehavior<S>, options: ActorSystemOptions) {
    this.#behavior = behavior;
    this.#opts = resolveActorOptions(options);
    this.#clock = options.clock;
    this.#random = options.random ?? cryptoRandom;
    this.#onEscalate = options.onEscalate;
    this.#onRestart = options.onRestart;
    this.#logger = options.logger;
    this.#timer = new SweepTimer(this.#clock, () => this.#onTimer());
  }

  /** Live actors (active, restarting or escalated). */
  get size(): number {
    return this.#cells.size;
  }

  /** Snapshot of one actor for tests and metrics; undefined when not live (never started or passivated). */
  inspect(key: string): ActorInfo | undefined {
    const c = this.#cells.get(key);
    if (!c) return undefined;
    return {
      status: c.status,
      running: c.running,
      hasState: c.hasState,
      queued: c.queue.length,
      restartAtMs: c.restartAtMs,
      escalatedUntilMs: c.escalatedUntilMs,
    };
  }

  /** Runs `op` on the state of `key` after every earlier ask on that key has finished. */
  ask<R>(key: string, op: (state: S) => R | Promise<R>): Promise<R> {
    if (this.#stopping) return Promise.reject(new ActorSystemStoppedError());
    const nowMs = this.#clock.monotonicMs();
    let cell = this.#cells.get(key);
    const created = cell === undefined;
    if (!cell) {
      cell = new ActorCell<S>(key, new RestartTracker(this.#opts.restart, this.#random), nowMs);
      this.#cells.set(key, cell);
      this.#armTimer(nowMs + this.#opts.sweepIntervalMs);
    } else {
      this.#touch(cell, nowMs);
    }
    if (cell.status === "escalated") {
      if (nowMs < cell.escalatedUntilMs) {
        return Promise.reject(new ActorUnavailableError(key, cell.escalatedUntilMs - nowMs));
      }
      this.#endEscalation(cell);
    }
    if (cell.queue.length >= this.#opts.maxQueue) {
      return Promise.reject(new MailboxOverloadedError(key, this.#opts.maxQueue));
    }
    const promise = new Promise<R>((resolve, reject) => {
      cell.queue.push({ op, resolve: resolve as (v: unknown) => void, reject } satisfies PendingAsk<S>);
    });
    if (cell.status === "restarting" && nowMs >= cell.restartAtMs) this.#restart(cell); // timer not yet fired
    else if (cell.status === "active" && !cell.running) cell.drained = this.#drain(cell);
    if (created && this.#cells.size > this.#opts.maxActors) this.#evictLru(this.#cells.size - this.#opts.maxActors, nowMs);
    return promise;
  }

  /**
   * Stops the system: no new asks; with `drain` (default) asks already queued on active actors
   * still run, otherwise they reject with ActorSystemStoppedError (as do asks waiting on a
   * restart or an escalation). Resolves once running ops have settled and every state is
   * passivated. The sweep timer is cleared. Idempotent.
   */
  stop(opts: { drain?: boolean } = {}): Promise<void> {
    this.#stopped ??= this.#stop(opts.drain ?? true);
    return this.#stopped;
  }

  async #stop(drain: boolean): Promise<void> {
    this.#stopping = true;
    this.#timer.clear();
    this.#restarting.clear();
    for (const cell of this.#cells.values()) {
      if (!drain || cell.status !== "active") this.#rejectAll(cell, () => new ActorSystemStoppedError());
    }
    // No drain can start from here on (asks are refused, restarts cancelled), so one pass suffices.
    await Promise.all(Array.from(this.#cells.values(), (c) => c.drained));
    for (const cell of this.#cells.values()) {
      invariant(!cell.running && cell.queue.length === 0, "stopped actors hold no work");
      this.#passivate(cell);
    }
    invariant(this.#cells.size === 0, "every actor passivated on stop");
  }

  /** The drain loop: the only place ops run. Exactly one per actor at a time. */
  async #drain(cell: ActorCell<S>): Promise<void> {
    invariant(!cell.running, "one drain loop per actor");
    cell.running = true;
    try {
      while (cell.status === "active" && cell.queue.length > 0) {
        if (!cell.hasState) {
          let state: S;
          try {
            state = await this.#behavior.init(cell.key);
          } catch (error) {
            // The ask that needed the state fails with the init error; the rest wait for the restart.
            cell.queue.shift()?.reject(error);
            if (!this.#isExpected(error)) this.#crash(cell, error);
            continue;
          }
          cell.state = state;
          cell.hasState = true;
          continue; // re-check status: stop() may have begun while init ran
        }
        const ask = cell.queue.shift();
        invariant(ask !== undefined, "queue non-empty inside drain");
        try {
          const result = await ask.op(cell.state as S);
          ask.resolve(result);
        } catch (error) {
          ask.reject(error);
          if (!this.#isExpected(error)) this.#crash(cell, error);
        }
      }
    } finally {
      cell.running = false;
      // Completion counts as activity, so a long op does not make its actor look idle.
      if (this.#cells.get(cell.key) === cell) this.#touch(cell, this.#clock.monotonicMs());
    }
  }

  #isExpected(error: unknown): boolean {
    if (isExpectedError(error)) return true;
    return this.#safeHook("isExpectedError", () => this.#behavior.isExpectedError?.(error) === true) === true;
  }

  /** Drops the state and either schedules a restart or escalates. Never throws. */
  #crash(cell: ActorCell<S>, error: unknown): void {
    const state = cell.hasState ? cell.state : undefined;
    cell.state = undefined;
    cell.hasState = false;
    this.#logger?.error({ key: cell.key, err: error }, "actor crashed");
    this.#safeHook("onCrash", () => this.#behavior.onCrash?.(cell.key, error, state));
    if (this.#stopping) {
      this.#rejectAll(cell, () => new ActorSystemStoppedError());
      return;
    }
    const nowMs = this.#clock.monotonicMs();
    const decision = cell.restarts.recordCrash(nowMs);
    if (decision.kind === "restart") {
      cell.status = "restarting";
      cell.restartAtMs = nowMs + decision.delayMs;
      this.#restarting.add(cell);
      this.#armTimer(cell.restartAtMs);
      return;
    }
    cell.status = "escalated";
    cell.escalatedUntilMs = nowMs + this.#opts.restart.cooldownMs;
    const retryAfterMs = this.#opts.restart.cooldownMs;
    this.#rejectAll(cell, () => new ActorUnavailableError(cell.key, retryAfterMs, error));
    this.#logger?.error({ key: cell.key, crashes: cell.restarts.recentCrashes }, "actor escalated");
    this.#safeHook("onEscalate", () => this.#onEscalate?.(cell.key, error));
  }

  #restart(cell: ActorCell<S>): void {
    invariant(cell.status === "restarting" && !cell.hasState && !cell.running, "restart of a crashed, idle actor");
    this.#restarting.delete(cell);
    cell.status = "active";
    this.#safeHook("onRestart", () => this.#onRestart?.(cell.key));
    if (cell.queue.length > 0) cell.drained = this.#drain(cell);
  }

  #endEscalation(cell: ActorCell<S>): void {
    invariant(cell.queue.length === 0 && !cell.running, "escalated actors hold no work");
    cell.status = "active";
    cell.restarts.reset();
  }

  #rejectAll(cell: ActorCell<S>, makeError: () => unknown): void {
    for (const ask of cell.queue.drain()) ask.reject(makeError());
  }

  #touch(cell: ActorCell<S>, nowMs: number): void {
    cell.lastActiveMs = nowMs;
    this.#cells.delete(cell.key);
    this.#cells.set(cell.key, cell);
  }

  #isIdle(cell: ActorCell<S>): boolean {
    if (cell.status !== "active" || cell.running || cell.queue.length > 0) return false;
    if (!cell.hasState || !this.#behavior.keepAlive) return true;
    return this.#safeHook("keepAlive", () => this.#behavior.keepAlive?.(cell.state as S)) !== true;
  }

  #passivate(cell: ActorCell<S>): void {
    invariant(!cell.running && cell.queue.length === 0, "only idle actors are passivated");
    this.#cells.delete(cell.key);
    this.#restarting.delete(cell);
    if (cell.hasState) {
      const state = cell.state as S;
      cell.state = undefined;
      cell.hasState = false;
      this.#safeHook("onPassivate", () => this.#behavior.onPassivate?.(state, cell.key));
    }
  }

  /**
   * Passivates up to `count` least recently used idle actors. Busy or pinned actors met on the
   * way are touched (moved to the back), so repeated evictions do not rescan them: amortised O(1).
   */
  #evictLru(count: number, nowMs: number): void {
    let scanLeft = this.#cells.size; // re-inserted entries are revisited by Map iteration: bound the walk
    for (const cell of this.#cells.values()) {
      if (count <= 0 || scanLeft-- <= 0) break;
      if (this.#isIdle(cell)) {
        this.#passivate(cell);
        count--;
      } else {
        this.#touch(cell, nowMs);
      }
    }
    if (count > 0) this.#logger?.warn({ live: this.#cells.size, maxActors: this.#opts.maxActors }, "maxActors exceeded: no idle actor to passivate");
  }

  /** Restarts due actors, ends expired escalations, passivates idle actors. Driven by the single timer. */
  #sweep(): void {
    const nowMs = this.#clock.monotonicMs();
    for (const cell of this.#restarting) if (nowMs >= cell.restartAtMs) this.#restart(cell);
    const cutoffMs = nowMs - this.#opts.idlePassivateMs;
    let scanLeft = this.#cells.size;
    // Sorted by lastActiveMs, so stop at the first actor active after the cutoff.
    for (const cell of this.#cells.values()) {
      if (cell.lastActiveMs > cutoffMs || scanLeft-- <= 0) break;
      if (cell.status === "escalated" && nowMs >= cell.escalatedUntilMs) this.#endEscalation(cell);
      invariant(!(cell.status === "active" && cell.queue.length > 0 && !cell.running), "active actor with work is draining");
      if (this.#isIdle(cell)) this.#passivate(cell);
      else this.#touch(cell, nowMs);
    }
  }

  #onTimer(): void {
    if (this.#stopping) return;
    this.#sweep();
    const nowMs = this.#clock.monotonicMs();
    let nextMs = this.#cells.size > 0 ? nowMs + this.#opts.sweepIntervalMs : Number.POSITIVE_INFINITY;
    for (const cell of this.#restarting) nextMs = Math.min(nextMs, cell.restartAtMs);
    if (Number.isFinite(nextMs)) this.#armTimer(nextMs);
  }

  #armTimer(atMs: number): void {
    if (!this.#stopping) this.#timer.armBy(atMs);
  }

  #safeHook<T>(name: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.#logger?.error({ hook: name, err }, "actor hook threw");
      return undefined;
    }
  }
}
