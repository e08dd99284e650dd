// Options of the actor system: defaults, bounds and validation in one place.
import type { Clock } from "../../runtime/clock.ts";
import type { Random } from "../../runtime/random.ts";
import { ActorConfigError } from "./errors.ts";

/** When and how often a crashed actor is restarted before it is escalated. */
export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; one more crash inside the window escalates. */
  maxRestarts: number;
  /** Sliding window for counting crashes. */
  windowMs: number;
  /** First backoff cap; the cap doubles per crash in the window (full jitter: delay = U[0, cap)). */
  backoffBaseMs: number;
  /** Upper bound of the backoff cap. */
  backoffMaxMs: number;
  /** How long an escalated actor rejects asks with ActorUnavailableError before it may start afresh. */
  cooldownMs: number;
}

/** pino-compatible subset: structured fields first, then the message. */
export interface ActorLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface ActorSystemOptions {
  /** Time source and timer: the system owns at most one timer at a time (the sweep). */
  clock: Clock;
  /** Randomness for backoff jitter. Default: cryptoRandom. */
  random?: Random;
  /** An actor with nothing to do for this long is passivated (state released). Default 60 s. */
  idlePassivateMs?: number;
  /** Soft cap on live actors: beyond it the least recently used idle actor is passivated. Default 100_000. */
  maxActors?: number;
  /** Asks per actor waiting to start (the running op is not counted; one waiting for init is). Default 1000. */
  maxQueue?: number;
  /** Period of the idle sweep. Default: idlePassivateMs / 4, clamped to 1..1000 ms. */
  sweepIntervalMs?: number;
  restart?: Partial<RestartPolicy>;
  /** Called once per escalation episode, with the crash that tipped it over. Must not throw (errors are logged). */
  onEscalate?: (key: string, error: unknown) => void;
  /** Called each time a crashed actor is restarted (after its backoff; metrics). Must not throw (errors are logged). */
  onRestart?: (key: string) => void;
  logger?: ActorLogger;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  maxRestarts: 5,
  windowMs: 60_000,
  backoffBaseMs: 10,
  backoffMaxMs: 5_000,
  cooldownMs: 30_000,
});

/** Longest duration accepted for any option (one day): longer is a configuration mistake. */
export const MAX_DURATION_MS = 86_400_000;

export interface ResolvedActorOptions {
  idlePassivateMs: number;
  maxActors: number;
  maxQueue: number;
  sweepIntervalMs: number;
  restart: RestartPolicy;
}

function intIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ActorConfigError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

/** Applies defaults and checks every bound; throws ActorConfigError on the first violation. */
export function resolveActorOptions(opts: ActorSystemOptions): ResolvedActorOptions {
  const idlePassivateMs = intIn("idlePassivateMs", opts.idlePassivateMs ?? 60_000, 1, MAX_DURATION_MS);
  const defaultSweepMs = Math.max(1, Math.min(1000, Math.floor(idlePassivateMs / 4)));
  const r = { ...DEFAULT_RESTART_POLICY, ...opts.restart };
  const restart: RestartPolicy = {
    maxRestarts: intIn("restart.maxRestarts", r.maxRestarts, 0, 10_000),
    windowMs: intIn("restart.windowMs", r.windowMs, 1, MAX_DURATION_MS),
    backoffBaseMs: intIn("restart.backoffBaseMs", r.backoffBaseMs, 0, MAX_DURATION_MS),
    backoffMaxMs: intIn("restart.backoffMaxMs", r.backoffMaxMs, 0, MAX_DURATION_MS),
    cooldownMs: intIn("restart.cooldownMs", r.cooldownMs, 0, MAX_DURATION_MS),
  };
  if (restart.backoffMaxMs < restart.backoffBaseMs) {
    throw new ActorConfigError("restart.backoffMaxMs must be >= restart.backoffBaseMs");
  }
  return {
    idlePassivateMs,
    maxActors: intIn("maxActors", opts.maxActors ?? 100_000, 1, 10_000_000),
    maxQueue: intIn("maxQueue", opts.maxQueue ?? 1000, 1, 1_000_000),
    sweepIntervalMs: intIn("sweepIntervalMs", opts.sweepIntervalMs ?? defaultSweepMs, 1, MAX_DURATION_MS),
    restart,
  };
}
