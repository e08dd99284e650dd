// Public surface of the generic actor runtime.
export { ActorSystem } from "./actor-system.ts";
export type { ActorBehavior, ActorInfo } from "./types.ts";
export { SweepTimer } from "./sweep-timer.ts";
export type { ActorStatus } from "./cell.ts";
export {
  ActorError,
  ActorErrorCode,
  ActorConfigError,
  ActorSystemStoppedError,
  ActorUnavailableError,
  DomainError,
  MailboxOverloadedError,
  isExpectedError,
} from "./errors.ts";
export {
  DEFAULT_RESTART_POLICY,
  resolveActorOptions,
  type ActorLogger,
  type ActorSystemOptions,
  type RestartPolicy,
} from "./options.ts";
export { RestartTracker, fullJitterBackoffMs, type CrashDecision } from "./supervisor.ts";
