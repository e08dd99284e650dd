// Optional human-readable log output via pino-pretty (a dev dependency), formatted synchronously in-process.
import { createRequire } from "node:module";

/** Minimal writable sink: pino accepts any object with `write(string)`. */
export interface LogSink {
  write(chunk: string): unknown;
}

type PrettyFactory = (opts: Record<string, unknown>) => (line: string) => string;

/**
 * Wraps `sink` so each JSON line is prettified before being written, or returns null when
 * pino-pretty is not installed (production images omit dev dependencies). Synchronous on purpose:
 * no worker thread, and log order and tests stay deterministic.
 */
export function prettySink(
  sink: LogSink,
  opts: { colorize?: boolean } = {},
  load: () => unknown = () => createRequire(import.meta.url)("pino-pretty"),
): LogSink | null {
  let prettyFactory: PrettyFactory;
  try {
    const mod = load() as { prettyFactory?: PrettyFactory };
    if (typeof mod.prettyFactory !== "function") return null;
    prettyFactory = mod.prettyFactory;
  } catch {
    return null;
  }
  const pretty = prettyFactory({ colorize: opts.colorize ?? false, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" });
  return {
    write(line: string) {
      return sink.write(pretty(line));
    },
  };
}
