// Types of the actor runtime's public surface: what an actor is and how it looks from outside.
import type { ActorStatus } from "./cell.ts";

/** What an actor is: how to build its state, and optional lifecycle hooks. Hooks must not throw (errors are logged). */
export interface ActorBehavior<S> {
  /** Creates the state of `key`: on first ask, after passivation, and after each crash. Runs inside the actor. */
  init(key: string): S | Promise<S>;
  /** The state is released (idle, LRU eviction, or stop). Not called after a crash: see onCrash. */
  onPassivate?(state: S, key: string): void;
  /** The actor crashed; `state` (undefined if init failed) is being dropped and may be inconsistent. */
  onCrash?(key: string, error: unknown, state: S | undefined): void;
  /** True while the state must stay in memory (e.g. live subscribers): never passivated then. */
  keepAlive?(state: S): boolean;
  /** Extra domain errors besides DomainError / `expected === true` (see isExpectedError). */
  isExpectedError?(error: unknown): boolean;
}

export interface ActorInfo {
  status: ActorStatus;
  running: boolean;
  hasState: boolean;
  queued: number;
  /** Monotonic ms; meaningful only when status is "restarting". */
  restartAtMs: number;
  /** Monotonic ms; meaningful only when status is "escalated". */
  escalatedUntilMs: number;
}
