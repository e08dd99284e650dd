// The configuration schema: one declarative entry per environment variable (parsed, bounded, documented).
import { LOG_LEVELS } from "../observability/levels.ts";
import {
  ADMIN_TOKEN_MAX_CHARS,
  ADMIN_TOKEN_MIN_CHARS,
  checkAdminToken,
  checkHost,
  checkNodeId,
  checkPath,
  checkOtlpUrl,
  checkPublicUrl,
  checkServiceName,
  checkTracesExporter,
  isDid,
  isNatsUrl,
  moduleLevels,
} from "./formats.ts";
import { boolean, byteSize, integer, list, oneOf, optionalInteger, text, type SpecValue } from "./spec.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Order matters only for the docs. Defaults shown as `$NAME` are derived from other variables by
 * `loadConfig` (their `defaultValue` is null).
 */
export const CONFIG_VARS = {
  PORT: integer({ doc: "TCP port of the HTTP/WebSocket listener; 0 picks a free port (reported at start).", min: 0, max: 65535, default: 3000 }),
  HOST: text({
    doc: "Address to bind to.",
    expected: "a hostname or IP address",
    default: "0.0.0.0",
    check: checkHost,
  }),
  PUBLIC_URL: text({
    doc: "Public base URL clients reach this mediator at (used in DID documents and OOB invitations); the WebSocket endpoint is the same URL with a ws(s) scheme and `/ws` appended.",
    expected: "an http(s) URL without credentials, query or fragment",
    default: null,
    defaultDoc: "http://localhost:$PORT",
    check: checkPublicUrl,
  }),
  DATA_DIR: text({
    doc: "Directory for the database and key files (relative paths are from the working directory).",
    expected: "a filesystem path",
    default: "./data",
    check: checkPath,
  }),
  MEDIATOR_KEYS_FILE: text({
    doc: "JSON file holding the mediator's DID and private keys (created on first start).",
    expected: "a filesystem path",
    default: null,
    defaultDoc: "$DATA_DIR/mediator-keys.json",
    check: checkPath,
  }),
  LOG_LEVEL: oneOf({ doc: "Minimum level logged.", values: LOG_LEVELS, default: "info" }),
  LOG_LEVELS: moduleLevels({ doc: "Per-module level overrides, e.g. `storage=debug,transport=warn`." }),
  LOG_PRETTY: boolean({ doc: "Human-readable logs (needs the pino-pretty dev dependency; JSON otherwise).", default: false }),
  MAX_MESSAGE_BYTES: byteSize({
    doc: "Largest inbound message (HTTP body or WebSocket frame) accepted.",
    min: KiB,
    max: 64 * MiB,
    default: MiB,
  }),
  MAILBOX_MAX_MESSAGES: integer({
    doc: "Most messages queued for one mediated client; further forwards are refused.",
    min: 1,
    max: 10_000_000,
    default: 10_000,
  }),
  MAILBOX_MAX_BYTES: byteSize({
    doc: "Most bytes queued for one mediated client; must be at least MAX_MESSAGE_BYTES.",
    min: KiB,
    max: 1024 * GiB,
    default: 100 * MiB,
  }),
  MEMORY_SOFT_LIMIT_BYTES: byteSize({
    doc: "Resident memory above which the node runs a full garbage collection once its heap grew by a quarter or its RSS by 16 MiB since the last one (at most every 250 ms, and at most 10% of the time): Bun's heap otherwise grows lazily with garbage.",
    min: 32 * MiB,
    max: 1024 * GiB,
    default: 128 * MiB,
  }),
  MAILBOX_ACTOR_IDLE_MS: integer({
    doc: "A mailbox actor (per-mailbox state kept in memory between requests) idle this long is released; it is rebuilt on the next request.",
    min: 100,
    max: 3_600_000,
    default: 10_000,
    unit: "ms",
  }),
  MAILBOX_MAX_ACTORS: integer({
    doc: "Mailbox actors kept in memory at most; beyond it the least recently used idle one is released (a working-set bound, not a limit on mailboxes).",
    min: 16,
    max: 10_000_000,
    default: 1000,
  }),
  UNPACK_WORKERS: integer({
    doc: "Worker threads that decrypt anoncrypt envelopes (forwards) off the main thread; 0 = all in-thread. Each costs memory (a JS heap) and pays off with a free CPU core.",
    min: 0,
    max: 16,
    default: 0,
  }),
  MESSAGE_TTL_SECONDS: integer({
    doc: "How long a queued message is kept before it expires undelivered.",
    min: MINUTE,
    max: 365 * DAY,
    default: 7 * DAY,
    unit: "s",
  }),
  REPLAY_WINDOW_SECONDS: integer({
    doc: "How long message ids are remembered per sender to reject replays; older messages are refused.",
    min: 10,
    max: 7 * DAY,
    default: HOUR,
    unit: "s",
  }),
  WS_IDLE_TIMEOUT_SECONDS: integer({
    doc: "Idle WebSocket connections are closed after this long (Bun caps it at 960 s).",
    min: 10,
    max: 960,
    default: 120,
    unit: "s",
  }),
  RATE_LIMIT_PER_CONNECTION: integer({
    doc: "Requests per second allowed on one connection (token bucket; excess is refused).",
    min: 1,
    max: 100_000,
    default: 100,
  }),
  MEDIATION_POLICY: oneOf({
    doc: "`open` grants mediation to anyone; `allowlist` only to DIDs in MEDIATION_ALLOWLIST.",
    values: ["open", "allowlist"],
    default: "open",
  }),
  MEDIATION_ALLOWLIST: list({
    doc: "Comma-separated DIDs allowed to request mediation; required (and only allowed) with MEDIATION_POLICY=allowlist.",
    expected: "comma-separated DIDs (did:method:id)",
    maxItems: 10_000,
    item: isDid,
  }),
  ADMIN_TOKEN: text({
    doc: "Bearer token for the admin API; the admin API is disabled when unset. Secret.",
    expected: `${ADMIN_TOKEN_MIN_CHARS}..${ADMIN_TOKEN_MAX_CHARS} printable ASCII characters, no spaces`,
    default: null,
    secret: true,
    check: checkAdminToken,
  }),
  NATS_URL: list({
    doc: "Comma-separated NATS servers; cluster mode when set. May carry credentials, so treated as a secret.",
    expected: "comma-separated nats:// or tls:// URLs",
    secret: true,
    maxItems: 64,
    item: isNatsUrl,
  }),
  NODE_ID: text({
    doc: "This node's id in logs and the cluster.",
    expected: "1..63 chars of a-z, 0-9, `_`, `-`, starting with a letter or digit",
    default: null,
    defaultDoc: "derived from the host name",
    check: checkNodeId,
  }),
  PARTITIONS: integer({
    doc: "Cluster mode: number of mailbox partitions; must be the same on every node and never change for a cluster's life.",
    min: 1,
    max: 4096,
    default: 64,
  }),
  NATS_REPLICAS: integer({
    doc: "Cluster mode: replicas of the JetStream stream and KV buckets (3 in production; 1 for a single NATS server).",
    min: 1,
    max: 5,
    default: 3,
  }),
  HEARTBEAT_INTERVAL_MS: integer({ doc: "Cluster mode: gossip heartbeat period.", min: 10, max: 60_000, default: 250, unit: "ms" }),
  SUSPECT_AFTER_MS: integer({
    doc: "Cluster mode: a member silent this long is suspected and probed; at least 2 x HEARTBEAT_INTERVAL_MS.",
    min: 20,
    max: 600_000,
    default: 750,
    unit: "ms",
  }),
  DEAD_AFTER_MS: integer({
    doc: "Cluster mode: a member silent this long is dead and its partitions move; more than SUSPECT_AFTER_MS.",
    min: 30,
    max: 3_600_000,
    default: 1500,
    unit: "ms",
  }),
  LEASE_TTL_MS: integer({
    doc: "Cluster mode: partition lease length (KV bucket TTL); a node stops serving 500 ms before its lease can expire.",
    min: 1000,
    max: 600_000,
    default: 1500,
    unit: "ms",
  }),
  CLUSTER_REQUEST_TIMEOUT_MS: integer({
    doc: "Cluster mode: deadline of one request to another node (owner-routed reads, live pushes).",
    min: 50,
    max: 60_000,
    default: 2000,
    unit: "ms",
  }),
  SHUTDOWN_GRACE_MS: optionalInteger({
    doc: "At stop, readiness fails first and the listener stays open this long so load balancers stop choosing the node.",
    min: 0,
    max: 60_000,
    defaultDoc: "1000 ms in cluster mode, 0 single-node",
    unit: "ms",
  }),
  BREAKER_FAILURE_THRESHOLD: integer({
    doc: "Outbound delivery: consecutive failures (cluster-wide) to one destination that open its circuit breaker.",
    min: 1,
    max: 1000,
    default: 5,
  }),
  BREAKER_OPEN_MS: integer({
    doc: "Outbound delivery: how long an open breaker refuses calls before it admits one probe.",
    min: 1,
    max: 86_400_000,
    default: 300_000,
    unit: "ms",
  }),
  DELIVERY_RETRY_BASE_MS: integer({
    doc: "Outbound delivery: backoff ceiling after the first failed attempt (doubles per attempt, full jitter).",
    min: 1,
    max: 3_600_000,
    default: 1000,
    unit: "ms",
  }),
  DELIVERY_RETRY_CAP_MS: integer({
    doc: "Outbound delivery: largest backoff between two attempts; at least DELIVERY_RETRY_BASE_MS.",
    min: 1,
    max: 86_400_000,
    default: 300_000,
    unit: "ms",
  }),
  DELIVERY_MAX_ATTEMPTS: integer({
    doc: "Outbound delivery: attempts per event (the first included) before it goes to the dead-letter queue.",
    min: 1,
    max: 100,
    default: 8,
  }),
  DELIVERY_CALL_TIMEOUT_MS: integer({
    doc: "Outbound delivery: deadline of one HTTP call (must stay below the breaker's 120 s reservation lifetime).",
    min: 100,
    max: 110_000,
    default: 10_000,
    unit: "ms",
  }),
  DELIVERY_CONCURRENCY_PER_DESTINATION: integer({
    doc: "Outbound delivery: calls in flight from one node to one destination (scheme, host and port).",
    min: 1,
    max: 1000,
    default: 4,
  }),
  WEBHOOK_COALESCE_MS: integer({
    doc: "Webhooks: messages for one mailbox within this window produce one event (message_count = how many); 0 = one event per message.",
    min: 0,
    max: 3_600_000,
    default: 0,
    unit: "ms",
  }),
  OTEL_TRACES_EXPORTER: text({
    doc: "Tracing: `otlp` exports OpenTelemetry spans over OTLP/HTTP (JSON); `none` turns tracing off even when an endpoint is set. Off by default.",
    expected: "otlp or none",
    default: null,
    defaultDoc: "otlp when an OTLP endpoint is set, else none",
    check: checkTracesExporter,
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: text({
    doc: "Tracing: OTLP/HTTP base URL of the collector; spans go to `<url>/v1/traces`. Setting it turns tracing on.",
    expected: "an http(s) URL without credentials, query or fragment",
    default: null,
    defaultDoc: "http://localhost:4318 when OTEL_TRACES_EXPORTER=otlp",
    check: checkOtlpUrl,
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: text({
    doc: "Tracing: full OTLP/HTTP URL for spans, used as is (overrides OTEL_EXPORTER_OTLP_ENDPOINT). Setting it turns tracing on.",
    expected: "an http(s) URL without credentials, query or fragment",
    default: null,
    defaultDoc: "$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces",
    check: checkOtlpUrl,
  }),
  OTEL_SERVICE_NAME: text({
    doc: "Tracing: `service.name` of the exported spans (the node id is added as `service.instance.id`).",
    expected: "1..128 printable ASCII characters",
    default: "haven",
    check: checkServiceName,
  }),
  OTEL_SDK_DISABLED: boolean({ doc: "Tracing: true turns tracing off whatever else is set.", default: false }),
} as const;

export type ConfigVarName = keyof typeof CONFIG_VARS;

/** The parsed, defaulted value of every variable (before derived defaults and cross-checks). */
export type ConfigValues = { -readonly [K in ConfigVarName]: SpecValue<(typeof CONFIG_VARS)[K]> };
