// Logger factory: pino JSON logs with redaction, binary-safe output, per-module levels and optional pretty output.
import pino from "pino";
import type { Clock } from "../runtime/clock.ts";
import { MODULE_NAME_PATTERN, type LogLevel } from "./levels.ts";
import { prettySink, type LogSink } from "./pretty.ts";
import { REDACT_PATHS, REDACTED, sanitizeForLog } from "./redact.ts";
import { traceLogFields } from "./trace-context.ts";

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Minimum level for loggers without a module override. */
  level: LogLevel;
  /** Human-readable output (needs pino-pretty; falls back to JSON with a warning). Default false. */
  pretty?: boolean;
  /** Per-module overrides applied to `logger.child({ module })`; `a.b` falls back to `a`. */
  moduleLevels?: Readonly<Record<string, LogLevel>>;
  /** Where lines go; default stdout. Any object with `write(string)`. */
  destination?: LogSink;
  /** Time source for the `time` field (default Date.now): inject a ManualClock for reproducible output. */
  clock?: Clock;
  /** Fields on every line, e.g. `{ node: "n1" }`. pid and hostname are omitted by default. */
  base?: Record<string, unknown>;
}

/**
 * Creates the root logger. Modules take a child: `logger.child({ module: "storage" })`; the
 * child's level comes from `moduleLevels` when the module (or its dotted parent) is listed; the
 * configured override wins over a level passed to `child()` in code.
 *
 * Redaction: values under sensitive key names (see redact.ts) are replaced at any depth in logged
 * objects and at the top two levels of child bindings; Uint8Array/Buffer contents are never printed,
 * only their length. Format strings (`log.info("%s", x)`) are not inspected: pass data as fields.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const moduleLevels = { ...opts.moduleLevels };
  for (const name of Object.keys(moduleLevels)) {
    if (!MODULE_NAME_PATTERN.test(name)) throw new RangeError(`invalid module name in moduleLevels: ${JSON.stringify(name)}`);
  }

  let sink: LogSink | undefined = opts.destination;
  let prettyMissing = false;
  if (opts.pretty) {
    const target = sink ?? process.stdout;
    const wrapped = prettySink(target, { colorize: sink === undefined && process.stdout.isTTY === true });
    if (wrapped) sink = wrapped;
    else prettyMissing = true;
  }

  const options: pino.LoggerOptions = {
    level: opts.level,
    base: opts.base ?? null,
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    formatters: {
      // Runs on every logged object before pino's serializers and redaction.
      log: sanitizeLogObject,
      bindings: sanitizeLogObject,
    },
    onChild: (child) => applyModuleLevel(child, moduleLevels),
    // Request id, trace id and span id of the request being handled (async-local), on every line it writes.
    mixin: traceLogFields,
    mixinMergeStrategy: mergeTraceFields,
    ...(opts.clock ? { timestamp: clockTimestamp(opts.clock) } : {}),
  };
  const logger = sink ? pino(options, sink as pino.DestinationStream) : pino(options);
  if (prettyMissing) logger.warn("LOG_PRETTY is set but pino-pretty is not installed; logging JSON");
  return logger;
}

/**
 * Outside a request nothing is merged (the logged object is untouched). Inside one, a binary or array logged as the
 * merge object is nested under `value` instead of spread index by index (sanitizeLogObject then summarises it).
 */
function mergeTraceFields(mergeObject: object, mixinObject: object): object {
  if (Object.keys(mixinObject).length === 0) return mergeObject;
  if (ArrayBuffer.isView(mergeObject) || mergeObject instanceof ArrayBuffer || Array.isArray(mergeObject)) return { ...mixinObject, value: mergeObject };
  return Object.assign(mixinObject, mergeObject);
}

/** pino needs an object to merge; a binary or array logged as the merge object is wrapped instead of spread. */
function sanitizeLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  const clean = sanitizeForLog(obj);
  return clean !== null && typeof clean === "object" && !Array.isArray(clean)
    ? (clean as Record<string, unknown>)
    : { value: clean };
}

function clockTimestamp(clock: Clock): () => string {
  return () => `,"time":${clock.nowMs()}`;
}

/** Sets a child's level from the most specific matching module override (`a.b.c`, then `a.b`, then `a`). */
function applyModuleLevel(child: Logger, moduleLevels: Readonly<Record<string, LogLevel>>): void {
  const module = child.bindings().module;
  if (typeof module !== "string") return;
  for (let name = module; name !== ""; name = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "") {
    const level = moduleLevels[name];
    if (level !== undefined) {
      child.level = level;
      return;
    }
  }
}
