// Public surface of observability: the logger factory, log levels and redaction helpers.
export { createLogger, type Logger, type LoggerOptions } from "./logger.ts";
export { LOG_LEVELS, isLogLevel, type LogLevel } from "./levels.ts";
export { REDACTED, SENSITIVE_KEYS, isSensitiveKey, sanitizeForLog } from "./redact.ts";
export type { LogSink } from "./pretty.ts";
export { Metrics, type MetricsOptions, type MailboxStats, type Collector } from "./metrics.ts";
export { aggregate, aggregateSnapshots, renderSnapshot } from "./metrics-aggregate.ts";
export { parseSnapshot, SnapshotError, type MetricsSnapshot } from "./metrics-snapshot.ts";
export { DestinationLabels, destinationOf, protocolLabel } from "./metrics-labels.ts";
export * from "./metrics-catalogue.ts";
export {
  TRACEPARENT_HEADER,
  childOf,
  currentTrace,
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  runWithTrace,
  traceFrom,
  traceLogFields,
  type TraceContext,
} from "./trace-context.ts";
