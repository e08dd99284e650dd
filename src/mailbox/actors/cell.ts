// One actor's bookkeeping: its queue of asks, its state and its supervision status.
import { Fifo } from "./fifo.ts";
import type { RestartTracker } from "./supervisor.ts";

/**
 * - active: runs asks (creating its state on demand);
 * - restarting: crashed, waiting out its backoff; asks queue up and run on the fresh state;
 * - escalated: crashed too often; asks fail fast until `escalatedUntilMs`.
 */
export type ActorStatus = "active" | "restarting" | "escalated";

export interface PendingAsk<S> {
  readonly op: (state: S) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class ActorCell<S> {
  status: ActorStatus = "active";
  /** True while a drain loop owns the actor: at most one op (or init) runs at a time. */
  running = false;
  /** Separate flag because `undefined` may be a legitimate state. */
  hasState = false;
  state: S | undefined = undefined;
  readonly queue = new Fifo<PendingAsk<S>>();
  /** Settles when the current drain loop ends (stop() awaits it). */
  drained: Promise<void> = Promise.resolve();
  /** Monotonic ms of the last ask or completion; the system's Map is kept sorted by it (LRU order). */
  lastActiveMs: number;
  /** Monotonic ms at which a restarting actor may start again. */
  restartAtMs = 0;
  /** Monotonic ms until which an escalated actor rejects asks. */
  escalatedUntilMs = 0;

  constructor(
    readonly key: string,
    readonly restarts: RestartTracker,
    nowMs: number,
  ) {
    this.lastActiveMs = nowMs;
  }
}
