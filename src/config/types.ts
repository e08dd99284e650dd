// The validated, frozen configuration object passed down to every layer (never read from a global).
import type { LogLevel } from "../observability/levels.ts";
import type { Secret } from "./secret.ts";

export interface Config {
  readonly server: {
    readonly host: string;
    readonly port: number;
    /** Public base URL without trailing slash, e.g. `https://mediator.example.com`. */
    readonly publicUrl: string;
    /** WebSocket endpoint derived from publicUrl, e.g. `wss://mediator.example.com/ws`. */
    readonly wsUrl: string;
    readonly wsIdleTimeoutSeconds: number;
    readonly rateLimitPerConnection: number;
    /** SHUTDOWN_GRACE_MS; null = the node's default (1000 ms in cluster mode, 0 single-node). */
    readonly shutdownGraceMs: number | null;
  };
  readonly storage: {
    readonly dataDir: string;
    readonly mediatorKeysFile: string;
  };
  readonly log: {
    readonly level: LogLevel;
    readonly pretty: boolean;
    /** Per-module overrides, e.g. `{ storage: "debug" }`. */
    readonly moduleLevels: Readonly<Record<string, LogLevel>>;
  };
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly mailboxMaxMessages: number;
    readonly mailboxMaxBytes: number;
    readonly messageTtlSeconds: number;
    readonly replayWindowSeconds: number;
    readonly memorySoftLimitBytes: number;
    /** Idle time after which a mailbox actor's in-memory state is released (MAILBOX_ACTOR_IDLE_MS). */
    readonly mailboxActorIdleMs: number;
    /** Live mailbox actors kept at most (MAILBOX_MAX_ACTORS): memory follows the working set, not all mailboxes. */
    readonly mailboxMaxActors: number;
    /** Worker threads for anoncrypt unpacking (UNPACK_WORKERS); 0 = in-thread. */
    readonly unpackWorkers: number;
  };
  readonly mediation: {
    readonly policy: "open" | "allowlist";
    /** Empty unless policy is "allowlist". */
    readonly allowlist: readonly string[];
  };
  readonly admin: {
    /** Null disables the admin API. A Secret prints as [REDACTED]; call reveal() to compare. */
    readonly token: Secret | null;
  };
  readonly cluster: {
    /** True when NATS_URL is set. */
    readonly enabled: boolean;
    /** May contain credentials: do not log. */
    readonly natsUrls: readonly string[];
    readonly nodeId: string;
    /** Fixed for a cluster's life. */
    readonly partitions: number;
    /** JetStream stream and KV bucket replicas. */
    readonly replicas: number;
    readonly heartbeatIntervalMs: number;
    readonly suspectAfterMs: number;
    readonly deadAfterMs: number;
    readonly leaseTtlMs: number;
    readonly requestTimeoutMs: number;
  };
  readonly delivery: {
    readonly breakerFailureThreshold: number;
    readonly breakerOpenMs: number;
    readonly retryBaseMs: number;
    readonly retryCapMs: number;
    readonly maxAttempts: number;
    readonly callTimeoutMs: number;
    readonly concurrencyPerDestination: number;
    /** 0 = one webhook event per accepted message. */
    readonly webhookCoalesceMs: number;
  };
  /** OpenTelemetry trace export (the standard OTEL_* variables); off unless an OTLP exporter is configured. */
  readonly tracing: {
    readonly enabled: boolean;
    /** Full OTLP/HTTP traces URL; null when tracing is off. */
    readonly tracesUrl: string | null;
    readonly serviceName: string;
  };
}
