// Tests for the logger factory: secrets and bodies never reach the output, module levels, pretty and JSON output.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/clock.ts";
import { createLogger, type LoggerOptions } from "../../src/observability/index.ts";

/** A private X25519 JWK, an admin token and a message body that must never appear in logs. */
const JWK_D = "dIoY7GgqYnIcFhU-ZwWCfRHlSDyVYxBTXHD0oVOVL0I";
const PRIVATE_JWK = { kty: "OKP", crv: "X25519", x: "PUBLIC-X-IS-FINE", d: JWK_D, kid: "did:example:m#key-1" };
const ADMIN_TOKEN = "adm1n-t0ken-0123456789abcdef";
const BODY = "MESSAGE-BODY-do-not-log";
const FORBIDDEN = [JWK_D, ADMIN_TOKEN, BODY];

function capture(opts: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: "trace", destination: { write: (s: string) => lines.push(s) }, ...opts });
  return { logger, text: () => lines.join(""), json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function logEverythingSensitive(logger: ReturnType<typeof createLogger>): void {
  logger.info({ jwk: PRIVATE_JWK }, "whole jwk");
  logger.info({ key: PRIVATE_JWK }, "jwk under an innocent key");
  logger.info({ mediator: { identity: { keys: [PRIVATE_JWK] } } }, "nested key list");
  logger.info({ deep: { a: { b: { c: { jwkLike: { ...PRIVATE_JWK } } } } } }, "deeply nested");
  logger.info({ privateKey: PRIVATE_JWK, private_key: JWK_D, d: JWK_D }, "top-level names");
  logger.info({ adminToken: ADMIN_TOKEN, token: ADMIN_TOKEN, ADMIN_TOKEN }, "tokens");
  logger.info({ headers: { authorization: `Bearer ${ADMIN_TOKEN}`, Authorization: `Bearer ${ADMIN_TOKEN}` } }, "headers");
  logger.info({ req: { sessionToken: ADMIN_TOKEN, clientSecret: ADMIN_TOKEN, dbPassword: ADMIN_TOKEN } }, "suffixes");
  logger.info({ body: BODY, payload: BODY, plaintext: BODY, message: { body: { text: BODY } } }, "bodies");
  logger.info({ jwe: { protected: BODY, ciphertext: BODY, iv: BODY, tag: BODY } }, "envelope parts");
  logger.info({ raw: new TextEncoder().encode(BODY), buf: Buffer.from(ADMIN_TOKEN) }, "binary");
  logger.info(new TextEncoder().encode(BODY), "binary as merge object");
  logger.info({ list: [{ d: JWK_D }, new TextEncoder().encode(BODY)] }, "arrays");
  logger.child({ token: ADMIN_TOKEN, jwk: PRIVATE_JWK, module: "x" }).info("child bindings");
  logger.child({ ctx: { password: ADMIN_TOKEN } }).child({ y: 1 }).info("nested bindings");
}

describe("redaction", () => {
  test("a private JWK d, an admin token and a message body never appear in JSON output", () => {
    const { logger, text, json } = capture();
    logEverythingSensitive(logger);
    const out = text();
    for (const secret of FORBIDDEN) expect(out).not.toContain(secret);
    // The redacted lines were still written, with their non-secret fields intact.
    const lines = json();
    expect(lines.length).toBe(15);
    expect(lines[1]).toMatchObject({ key: { d: "[REDACTED]", x: "PUBLIC-X-IS-FINE", kid: "did:example:m#key-1" } });
    expect(lines[10]).toMatchObject({ raw: `[Uint8Array ${BODY.length} bytes]`, buf: `[Buffer ${ADMIN_TOKEN.length} bytes]` });
    expect(lines[11]).toMatchObject({ value: `[Uint8Array ${BODY.length} bytes]`, msg: "binary as merge object" });
    expect(lines[13]).toMatchObject({ token: "[REDACTED]", jwk: "[REDACTED]", module: "x", msg: "child bindings" });
    expect(lines[14]).toMatchObject({ ctx: { password: "[REDACTED]" }, y: 1 });
  });

  test("pretty output redacts the same way", () => {
    const { logger, text } = capture({ pretty: true });
    logEverythingSensitive(logger);
    const out = text();
    expect(out).toContain("child bindings");
    expect(out).not.toStartWith("{"); // prettified, not JSON
    for (const secret of FORBIDDEN) expect(out).not.toContain(secret);
  });

  test("logging does not mutate the caller's objects", () => {
    const { logger } = capture();
    const obj = { jwk: { ...PRIVATE_JWK }, nested: { token: ADMIN_TOKEN } };
    logger.info(obj, "x");
    expect(obj.jwk.d).toBe(JWK_D);
    expect(obj.nested.token).toBe(ADMIN_TOKEN);
  });

  test("circular structures are logged without throwing", () => {
    const { logger, json } = capture();
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    logger.info({ a }, "circular");
    expect(json()[0]).toMatchObject({ a: { name: "a", self: "[Circular]" } });
  });
});

describe("levels", () => {
  test("the root level filters, and module overrides apply to children, dotted names falling back to parents", () => {
    const { logger, json } = capture({ level: "info", moduleLevels: { storage: "debug", transport: "error" } });
    logger.debug("root debug: dropped");
    logger.info("root info");
    const storage = logger.child({ module: "storage" });
    storage.debug("storage debug");
    storage.child({ op: "enqueue" }).debug("storage grandchild debug");
    logger.child({ module: "storage.sqlite" }).debug("storage.sqlite debug");
    logger.child({ module: "transport" }).warn("transport warn: dropped");
    logger.child({ module: "transport.ws" }).error("transport.ws error");
    logger.child({ module: "mailbox" }).debug("mailbox debug: dropped");
    logger.child({ module: "mailbox" }).info("mailbox info");
    expect(json().map((l) => l.msg)).toEqual([
      "root info",
      "storage debug",
      "storage grandchild debug",
      "storage.sqlite debug",
      "transport.ws error",
      "mailbox info",
    ]);
  });

  test("silent logs nothing; invalid module names are refused", () => {
    const { logger, text } = capture({ level: "silent" });
    logger.fatal("nothing");
    expect(text()).toBe("");
    expect(() => createLogger({ level: "info", moduleLevels: { "Bad Name": "debug" } })).toThrow(RangeError);
  });
});

describe("output shape", () => {
  test("JSON lines with level, injected time, base fields and msg; no pid/hostname", () => {
    const clock = new ManualClock({ startMs: 1_700_000_000_000 });
    const { logger, json } = capture({ clock, base: { node: "n1" } });
    logger.warn({ n: 1 }, "hello");
    expect(json()).toEqual([{ level: 40, time: 1_700_000_000_000, node: "n1", n: 1, msg: "hello" }]);
  });

  test("errors keep type and message through pino's serializer", () => {
    const { logger, json } = capture();
    logger.error({ err: new TypeError("boom") }, "failed");
    expect(json()[0]).toMatchObject({ err: { type: "TypeError", message: "boom" }, msg: "failed" });
  });
});
