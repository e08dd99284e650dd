// Log level names shared by the config schema and the logger factory (no dependencies, so both can import it).

/** pino's levels plus "silent", from most to least verbose. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** Module names usable in per-module overrides: `storage`, `transport.ws`, `mailbox-actor`. */
export const MODULE_NAME_PATTERN = /^[a-z][a-z0-9._-]{0,63}$/;
