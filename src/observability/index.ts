// Public surface of observability: the logger factory, log levels and redaction helpers.
export { createLogger, type Logger, type LoggerOptions } from "./logger.ts";
export { LOG_LEVELS, isLogLevel, type LogLevel } from "./levels.ts";
export { REDACTED, SENSITIVE_KEYS, isSensitiveKey, sanitizeForLog } from "./redact.ts";
export type { LogSink } from "./pretty.ts";
