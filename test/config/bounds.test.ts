// Tests every numeric bound in the config schema: the limits themselves pass, one step outside fails.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config/index.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 86400;

/** [variable, min, max, path to the value in Config]. */
const BOUNDS: [string, number, number, (c: ReturnType<typeof loadConfig>) => number][] = [
  ["PORT", 0, 65535, (c) => c.server.port],
  ["MAX_MESSAGE_BYTES", KiB, 64 * MiB, (c) => c.limits.maxMessageBytes],
  ["MAILBOX_MAX_MESSAGES", 1, 10_000_000, (c) => c.limits.mailboxMaxMessages],
  ["MAILBOX_MAX_BYTES", KiB, 1024 ** 4, (c) => c.limits.mailboxMaxBytes],
  ["MESSAGE_TTL_SECONDS", 60, 365 * DAY, (c) => c.limits.messageTtlSeconds],
  ["REPLAY_WINDOW_SECONDS", 10, 7 * DAY, (c) => c.limits.replayWindowSeconds],
  ["WS_IDLE_TIMEOUT_SECONDS", 10, 960, (c) => c.server.wsIdleTimeoutSeconds],
  ["RATE_LIMIT_PER_CONNECTION", 1, 100_000, (c) => c.server.rateLimitPerConnection],
  ["SHUTDOWN_GRACE_MS", 0, 60_000, (c) => c.server.shutdownGraceMs ?? -1],
  ["BREAKER_FAILURE_THRESHOLD", 1, 1000, (c) => c.delivery.breakerFailureThreshold],
  ["BREAKER_OPEN_MS", 1, 86_400_000, (c) => c.delivery.breakerOpenMs],
  ["DELIVERY_RETRY_BASE_MS", 1, 3_600_000, (c) => c.delivery.retryBaseMs],
  ["DELIVERY_RETRY_CAP_MS", 1, 86_400_000, (c) => c.delivery.retryCapMs],
  ["DELIVERY_MAX_ATTEMPTS", 1, 100, (c) => c.delivery.maxAttempts],
  ["DELIVERY_CALL_TIMEOUT_MS", 100, 110_000, (c) => c.delivery.callTimeoutMs],
  ["DELIVERY_CONCURRENCY_PER_DESTINATION", 1, 1000, (c) => c.delivery.concurrencyPerDestination],
  ["WEBHOOK_COALESCE_MS", 0, 3_600_000, (c) => c.delivery.webhookCoalesceMs],
];

/** MAILBOX_MAX_BYTES must hold one maximal message; keep that rule out of the way of pure bound checks. */
function envFor(name: string, value: string): Record<string, string> {
  if (name === "MAILBOX_MAX_BYTES") return { [name]: value, MAX_MESSAGE_BYTES: "1KiB" };
  if (name === "MAX_MESSAGE_BYTES") return { [name]: value, MAILBOX_MAX_BYTES: "1TiB" };
  if (name === "DELIVERY_RETRY_CAP_MS") return { [name]: value, DELIVERY_RETRY_BASE_MS: "1" };
  if (name === "DELIVERY_RETRY_BASE_MS") return { [name]: value, DELIVERY_RETRY_CAP_MS: "86400000" };
  return { [name]: value };
}

function problemsFor(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => p.variable);
  }
}

describe("numeric bounds", () => {
  for (const [name, min, max, read] of BOUNDS) {
    test(`${name}: ${min} and ${max} accepted, ${min - 1} and ${max + 1} refused`, () => {
      expect(read(loadConfig(envFor(name, String(min))))).toBe(min);
      expect(read(loadConfig(envFor(name, String(max))))).toBe(max);
      expect(problemsFor(envFor(name, String(min - 1)))).toEqual([name]);
      expect(problemsFor(envFor(name, String(max + 1)))).toEqual([name]);
    });
  }

  test("non-numbers, signs, decimals and unknown units are refused", () => {
    for (const bad of ["abc", "-1", "+5", "1.5", "1e3", "0x10", "3000x"]) expect(problemsFor({ PORT: bad })).toEqual(["PORT"]);
    for (const bad of ["1MB", "1 kb", "MiB", "1.5MiB"]) {
      expect(problemsFor({ MAX_MESSAGE_BYTES: bad })).toEqual(["MAX_MESSAGE_BYTES"]);
    }
    expect(problemsFor({ PORT: "9".repeat(400) })).toEqual(["PORT"]);
  });

  test("MAILBOX_MAX_BYTES below MAX_MESSAGE_BYTES is refused", () => {
    expect(problemsFor({ MAX_MESSAGE_BYTES: "2MiB", MAILBOX_MAX_BYTES: "1MiB" })).toEqual(["MAILBOX_MAX_BYTES"]);
    expect(problemsFor({ MAX_MESSAGE_BYTES: "2MiB", MAILBOX_MAX_BYTES: "2MiB" })).toEqual([]);
  });

  test("DELIVERY_RETRY_CAP_MS below DELIVERY_RETRY_BASE_MS is refused", () => {
    expect(problemsFor({ DELIVERY_RETRY_BASE_MS: "500", DELIVERY_RETRY_CAP_MS: "499" })).toEqual(["DELIVERY_RETRY_CAP_MS"]);
    expect(problemsFor({ DELIVERY_RETRY_BASE_MS: "500", DELIVERY_RETRY_CAP_MS: "500" })).toEqual([]);
  });

  test("SHUTDOWN_GRACE_MS unset is null (the node picks its mode's default)", () => {
    expect(loadConfig({}).server.shutdownGraceMs).toBeNull();
  });

  test("cluster timings: SUSPECT_AFTER_MS >= 2 x HEARTBEAT_INTERVAL_MS, DEAD_AFTER_MS > SUSPECT_AFTER_MS", () => {
    expect(problemsFor({ HEARTBEAT_INTERVAL_MS: "100", SUSPECT_AFTER_MS: "199", DEAD_AFTER_MS: "800" })).toEqual(["SUSPECT_AFTER_MS"]);
    expect(problemsFor({ HEARTBEAT_INTERVAL_MS: "100", SUSPECT_AFTER_MS: "200", DEAD_AFTER_MS: "200" })).toEqual(["DEAD_AFTER_MS"]);
    expect(problemsFor({ HEARTBEAT_INTERVAL_MS: "100", SUSPECT_AFTER_MS: "200", DEAD_AFTER_MS: "201" })).toEqual([]);
  });
});

describe("string bounds", () => {
  test("ADMIN_TOKEN length 16..512", () => {
    expect(problemsFor({ ADMIN_TOKEN: "a".repeat(16) })).toEqual([]);
    expect(problemsFor({ ADMIN_TOKEN: "a".repeat(512) })).toEqual([]);
    expect(problemsFor({ ADMIN_TOKEN: "a".repeat(15) })).toEqual(["ADMIN_TOKEN"]);
    expect(problemsFor({ ADMIN_TOKEN: "a".repeat(513) })).toEqual(["ADMIN_TOKEN"]);
    expect(problemsFor({ ADMIN_TOKEN: "aaaaaaaa aaaaaaaa" })).toEqual(["ADMIN_TOKEN"]);
  });

  test("NODE_ID length 1..63 and charset", () => {
    expect(problemsFor({ NODE_ID: "a" })).toEqual([]);
    expect(problemsFor({ NODE_ID: "a".repeat(63) })).toEqual([]);
    for (const bad of ["a".repeat(64), "Node1", "-n", "n.1", "n 1"]) expect(problemsFor({ NODE_ID: bad })).toEqual(["NODE_ID"]);
  });

  test("list sizes are bounded (MEDIATION_ALLOWLIST 10000, NATS_URL 64)", () => {
    const dids = (n: number) => Array.from({ length: n }, (_, i) => `did:example:${i}`).join(",");
    expect(problemsFor({ MEDIATION_POLICY: "allowlist", MEDIATION_ALLOWLIST: dids(10_000) })).toEqual([]);
    expect(problemsFor({ MEDIATION_POLICY: "allowlist", MEDIATION_ALLOWLIST: dids(10_001) })).toEqual(["MEDIATION_ALLOWLIST"]);
    const nats = (n: number) => Array.from({ length: n }, (_, i) => `nats://h${i}:4222`).join(",");
    expect(problemsFor({ NATS_URL: nats(64) })).toEqual([]);
    expect(problemsFor({ NATS_URL: nats(65) })).toEqual(["NATS_URL"]);
  });

  test("any value over 1 MiB is refused before parsing", () => {
    expect(problemsFor({ DATA_DIR: "a".repeat(1024 * 1024 + 1) })).toEqual(["DATA_DIR"]);
  });
});
