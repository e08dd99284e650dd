// Tests that loadConfig reports every problem at once, says what was expected, and never echoes secrets.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig, type ConfigProblem } from "../../src/config/index.ts";

function catchConfigError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected loadConfig to throw a ConfigError");
}

const TOKEN = "sh0rt-s3cret"; // under 16 chars: invalid
const NATS_PASSWORD = "n4ts-pa55w0rd-xyz";

const BAD_ENV: Record<string, string> = {
  PORT: "70000",
  HOST: "bad host!",
  PUBLIC_URL: "ftp://example.com",
  DATA_DIR: "a\0b",
  MEDIATOR_KEYS_FILE: "k\0",
  LOG_LEVEL: "verbose",
  LOG_LEVELS: "storage=loud",
  LOG_PRETTY: "maybe",
  MAX_MESSAGE_BYTES: "10",
  MAILBOX_MAX_MESSAGES: "0",
  MAILBOX_MAX_BYTES: "lots",
  MESSAGE_TTL_SECONDS: "59",
  REPLAY_WINDOW_SECONDS: "x",
  WS_IDLE_TIMEOUT_SECONDS: "961",
  RATE_LIMIT_PER_CONNECTION: "0",
  MEDIATION_POLICY: "closed",
  MEDIATION_ALLOWLIST: "did:example:ok,not-a-did",
  ADMIN_TOKEN: TOKEN,
  NATS_URL: `nats://u:${NATS_PASSWORD}@h:4222,http://x`,
  NODE_ID: "NOPE!",
};

describe("ConfigError", () => {
  test("every invalid variable is reported, in schema order, with expected form", () => {
    const err = catchConfigError(BAD_ENV);
    expect(err.problems.map((p) => p.variable)).toEqual(Object.keys(BAD_ENV));
    for (const p of err.problems) expect(p.expected.length).toBeGreaterThan(0);
    expect(err.message).toStartWith(`invalid configuration (${Object.keys(BAD_ENV).length} problems):`);
    const port = err.problems.find((p) => p.variable === "PORT")!;
    expect(port).toEqual({ variable: "PORT", value: "70000", expected: "an integer in 0..65535", detail: "out of range" });
    expect(err.message).toContain('PORT="70000": expected an integer in 0..65535');
    expect(err.problems.find((p) => p.variable === "MEDIATION_ALLOWLIST")?.detail).toBe("entry #2 is invalid");
  });

  test("secret values are never echoed, in the problems or the message", () => {
    const err = catchConfigError(BAD_ENV);
    const secrets = err.problems.filter((p) => p.variable === "ADMIN_TOKEN" || p.variable === "NATS_URL");
    expect(secrets.map((p) => p.value)).toEqual([undefined, undefined]);
    const everything = `${err.message}\n${JSON.stringify(err.problems)}\n${String(err)}\n${err.stack}`;
    for (const leak of [TOKEN, NATS_PASSWORD, "sh0rt", "pa55w0rd"]) expect(everything).not.toContain(leak);
    expect(err.message).toContain("ADMIN_TOKEN: expected 16..512");
  });

  test("a long secret that fails for length is still not echoed, even partially", () => {
    const long = `S${"e".repeat(600)}cret`;
    const err = catchConfigError({ ADMIN_TOKEN: long });
    expect(err.problems).toEqual([
      { variable: "ADMIN_TOKEN", value: undefined, expected: expect.any(String), detail: "too long (605 chars)" } as ConfigProblem,
    ]);
    expect(err.message).not.toContain("eeee");
  });

  test("long non-secret values are truncated in the echo", () => {
    const err = catchConfigError({ HOST: "h".repeat(300) });
    expect(err.problems[0]?.value).toBe(`${"h".repeat(80)}...(300 chars)`);
  });

  test("cross-field rules: allowlist required with policy allowlist, refused with policy open", () => {
    expect(catchConfigError({ MEDIATION_POLICY: "allowlist" }).problems).toEqual([
      expect.objectContaining({ variable: "MEDIATION_ALLOWLIST", detail: "required when MEDIATION_POLICY=allowlist" }),
    ]);
    expect(catchConfigError({ MEDIATION_ALLOWLIST: "did:example:a" }).problems).toEqual([
      expect.objectContaining({ variable: "MEDIATION_ALLOWLIST", expected: "to be unset" }),
    ]);
  });

  test("a cross-field rule is skipped when one of its inputs already failed", () => {
    const err = catchConfigError({ MAX_MESSAGE_BYTES: "nope", MAILBOX_MAX_BYTES: "2KiB" });
    expect(err.problems.map((p) => p.variable)).toEqual(["MAX_MESSAGE_BYTES"]);
  });

  test("PUBLIC_URL refuses credentials, query, fragment and non-http schemes", () => {
    for (const bad of ["https://u:p@m.example", "https://m.example/?a=1", "https://m.example/#x", "ws://m.example", "m.example"]) {
      expect(catchConfigError({ PUBLIC_URL: bad }).problems.map((p) => p.variable)).toEqual(["PUBLIC_URL"]);
    }
  });

  test("an empty problem list is an invariant violation", () => {
    expect(() => new ConfigError([])).toThrow("invariant");
  });
});
