// loadConfig: parses every variable in the schema, applies derived defaults and cross-checks, returns a frozen Config.
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { ConfigError, echoValue, type ConfigProblem } from "./errors.ts";
import { deriveWsUrl, nodeIdFromHostname } from "./formats.ts";
import { Secret } from "./secret.ts";
import type { Config } from "./types.ts";
import { CONFIG_VARS, type ConfigValues, type ConfigVarName } from "./vars.ts";
import type { VarSpec } from "./spec.ts";

/** Values longer than this are refused before parsing (an allowlist of 10k DIDs fits comfortably). */
export const MAX_VAR_CHARS = 1 << 20;

export interface LoadConfigOptions {
  /** Host name used for the default NODE_ID (injected for tests). */
  hostname?: () => string;
}

/**
 * Reads the configuration from `env`. Blank values count as unset (so `VAR=` in a compose file
 * means "default"). Throws ConfigError listing every problem found, never echoing secrets.
 */
export function loadConfig(env: Record<string, string | undefined>, opts: LoadConfigOptions = {}): Config {
  const problems: ConfigProblem[] = [];
  const values = {} as Record<ConfigVarName, unknown>;
  const given = new Set<ConfigVarName>();

  for (const name of Object.keys(CONFIG_VARS) as ConfigVarName[]) {
    const spec: VarSpec<unknown> = CONFIG_VARS[name];
    const raw = env[name]?.trim();
    values[name] = spec.defaultValue;
    if (raw === undefined || raw === "") continue;
    given.add(name);
    const problem = (detail?: string): ConfigProblem => ({
      variable: name,
      value: spec.secret ? undefined : echoValue(raw),
      expected: spec.expected,
      ...(detail === undefined ? {} : { detail }),
    });
    if (raw.length > MAX_VAR_CHARS) {
      problems.push(problem(`longer than ${MAX_VAR_CHARS} characters`));
      continue;
    }
    const parsed = spec.parse(raw);
    if (parsed.ok) values[name] = parsed.value;
    else problems.push(problem(parsed.detail));
  }

  const v = values as ConfigValues;
  crossCheck(v, given, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const publicUrl = v.PUBLIC_URL ?? `http://localhost:${v.PORT}`;
  return deepFreeze({
    server: {
      host: v.HOST,
      port: v.PORT,
      publicUrl,
      wsUrl: deriveWsUrl(publicUrl),
      wsIdleTimeoutSeconds: v.WS_IDLE_TIMEOUT_SECONDS,
      rateLimitPerConnection: v.RATE_LIMIT_PER_CONNECTION,
      shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    },
    storage: {
      dataDir: v.DATA_DIR,
      mediatorKeysFile: v.MEDIATOR_KEYS_FILE ?? join(v.DATA_DIR, "mediator-keys.json"),
    },
    log: { level: v.LOG_LEVEL, pretty: v.LOG_PRETTY, moduleLevels: { ...v.LOG_LEVELS } },
    limits: {
      maxMessageBytes: v.MAX_MESSAGE_BYTES,
      mailboxMaxMessages: v.MAILBOX_MAX_MESSAGES,
      mailboxMaxBytes: v.MAILBOX_MAX_BYTES,
      messageTtlSeconds: v.MESSAGE_TTL_SECONDS,
      replayWindowSeconds: v.REPLAY_WINDOW_SECONDS,
      memorySoftLimitBytes: v.MEMORY_SOFT_LIMIT_BYTES,
      mailboxActorIdleMs: v.MAILBOX_ACTOR_IDLE_MS,
      mailboxMaxActors: v.MAILBOX_MAX_ACTORS,
      unpackWorkers: v.UNPACK_WORKERS,
    },
    mediation: { policy: v.MEDIATION_POLICY, allowlist: [...v.MEDIATION_ALLOWLIST] },
    admin: { token: v.ADMIN_TOKEN === null ? null : new Secret(v.ADMIN_TOKEN) },
    cluster: {
      enabled: v.NATS_URL.length > 0,
      natsUrls: [...v.NATS_URL],
      nodeId: v.NODE_ID ?? nodeIdFromHostname((opts.hostname ?? osHostname)()),
      partitions: v.PARTITIONS,
      replicas: v.NATS_REPLICAS,
      heartbeatIntervalMs: v.HEARTBEAT_INTERVAL_MS,
      suspectAfterMs: v.SUSPECT_AFTER_MS,
      deadAfterMs: v.DEAD_AFTER_MS,
      leaseTtlMs: v.LEASE_TTL_MS,
      requestTimeoutMs: v.CLUSTER_REQUEST_TIMEOUT_MS,
    },
    delivery: {
      breakerFailureThreshold: v.BREAKER_FAILURE_THRESHOLD,
      breakerOpenMs: v.BREAKER_OPEN_MS,
      retryBaseMs: v.DELIVERY_RETRY_BASE_MS,
      retryCapMs: v.DELIVERY_RETRY_CAP_MS,
      maxAttempts: v.DELIVERY_MAX_ATTEMPTS,
      callTimeoutMs: v.DELIVERY_CALL_TIMEOUT_MS,
      concurrencyPerDestination: v.DELIVERY_CONCURRENCY_PER_DESTINATION,
      webhookCoalesceMs: v.WEBHOOK_COALESCE_MS,
    },
    tracing: tracingOf(v),
  });
}

/**
 * OTel semantics, except that the exporter defaults to none (tracing is opt-in): an OTLP endpoint or
 * OTEL_TRACES_EXPORTER=otlp turns it on, OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true off.
 */
function tracingOf(v: ConfigValues): Config["tracing"] {
  const endpointSet = v.OTEL_EXPORTER_OTLP_ENDPOINT !== null || v.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== null;
  const exporter = v.OTEL_TRACES_EXPORTER ?? (endpointSet ? "otlp" : "none");
  const enabled = exporter === "otlp" && !v.OTEL_SDK_DISABLED;
  const tracesUrl = v.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${v.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://localhost:4318"}/v1/traces`;
  return { enabled, tracesUrl: enabled ? tracesUrl : null, serviceName: v.OTEL_SERVICE_NAME };
}

/** Rules spanning several variables. Skipped for a variable that already failed to parse. */
function crossCheck(v: ConfigValues, given: ReadonlySet<ConfigVarName>, problems: ConfigProblem[]): void {
  const failed = new Set(problems.map((p) => p.variable));
  const usable = (n: ConfigVarName) => !failed.has(n);

  if (usable("MEDIATION_POLICY") && usable("MEDIATION_ALLOWLIST")) {
    if (v.MEDIATION_POLICY === "allowlist" && v.MEDIATION_ALLOWLIST.length === 0) {
      problems.push({
        variable: "MEDIATION_ALLOWLIST",
        value: undefined,
        expected: CONFIG_VARS.MEDIATION_ALLOWLIST.expected,
        detail: "required when MEDIATION_POLICY=allowlist",
      });
    }
    // An allowlist that is silently ignored is a security surprise: refuse it instead.
    if (v.MEDIATION_POLICY === "open" && given.has("MEDIATION_ALLOWLIST")) {
      problems.push({
        variable: "MEDIATION_ALLOWLIST",
        value: undefined,
        expected: "to be unset",
        detail: "MEDIATION_POLICY is open; set MEDIATION_POLICY=allowlist to use it",
      });
    }
  }
  if (usable("HEARTBEAT_INTERVAL_MS") && usable("SUSPECT_AFTER_MS") && v.SUSPECT_AFTER_MS < 2 * v.HEARTBEAT_INTERVAL_MS) {
    problems.push({
      variable: "SUSPECT_AFTER_MS",
      value: String(v.SUSPECT_AFTER_MS),
      expected: `at least 2 x HEARTBEAT_INTERVAL_MS (${2 * v.HEARTBEAT_INTERVAL_MS})`,
      detail: "one lost heartbeat must not make a member suspect",
    });
  }
  if (usable("SUSPECT_AFTER_MS") && usable("DEAD_AFTER_MS") && v.DEAD_AFTER_MS <= v.SUSPECT_AFTER_MS) {
    problems.push({
      variable: "DEAD_AFTER_MS",
      value: String(v.DEAD_AFTER_MS),
      expected: `more than SUSPECT_AFTER_MS (${v.SUSPECT_AFTER_MS})`,
      detail: "a suspect must be probed before it is declared dead",
    });
  }
  if (usable("DELIVERY_RETRY_BASE_MS") && usable("DELIVERY_RETRY_CAP_MS") && v.DELIVERY_RETRY_CAP_MS < v.DELIVERY_RETRY_BASE_MS) {
    problems.push({
      variable: "DELIVERY_RETRY_CAP_MS",
      value: String(v.DELIVERY_RETRY_CAP_MS),
      expected: `at least DELIVERY_RETRY_BASE_MS (${v.DELIVERY_RETRY_BASE_MS})`,
      detail: "the cap bounds every backoff, the first one included",
    });
  }
  if (usable("MAILBOX_MAX_BYTES") && usable("MAX_MESSAGE_BYTES") && v.MAILBOX_MAX_BYTES < v.MAX_MESSAGE_BYTES) {
    problems.push({
      variable: "MAILBOX_MAX_BYTES",
      value: String(v.MAILBOX_MAX_BYTES),
      expected: `at least MAX_MESSAGE_BYTES (${v.MAX_MESSAGE_BYTES})`,
      detail: "a mailbox must be able to hold one message of the largest accepted size",
    });
  }
}

function deepFreeze<T>(obj: T): T {
  if (obj !== null && typeof obj === "object" && !(obj instanceof Secret) && !Object.isFrozen(obj)) {
    for (const value of Object.values(obj)) deepFreeze(value);
    Object.freeze(obj);
  }
  return obj;
}
