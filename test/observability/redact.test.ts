// Tests for the redaction rules and the copy-on-write log sanitizer.
import { describe, expect, test } from "bun:test";
import { isSensitiveKey, REDACTED, sanitizeForLog } from "../../src/observability/redact.ts";

describe("isSensitiveKey", () => {
  test("matches listed names in any case and separator style, and credential suffixes", () => {
    for (const k of ["d", "privateKey", "private_key", "PRIVATE-KEY", "Authorization", "set-cookie", "encrypted_key", "adminToken", "x-api-key", "clientSecret", "body"]) {
      expect(isSensitiveKey(k)).toBe(true);
    }
    for (const k of ["kid", "x", "crv", "id", "msg", "module", "tokenCount", "did", "recipientDid", "sizeBytes"]) {
      expect(isSensitiveKey(k)).toBe(false);
    }
  });
});

describe("sanitizeForLog", () => {
  test("returns the same object when nothing needs changing", () => {
    const obj = { a: 1, b: { c: [1, 2, { e: "x" }] } };
    expect(sanitizeForLog(obj)).toBe(obj);
  });

  test("copies only the changed path", () => {
    const shared = { keep: true };
    const obj = { shared, inner: { token: "t" } };
    const out = sanitizeForLog(obj) as typeof obj;
    expect(out).not.toBe(obj);
    expect(out.shared).toBe(shared);
    expect(out.inner).toEqual({ token: REDACTED });
  });

  test("binary views of every kind become length-only descriptions", () => {
    expect(sanitizeForLog(new Uint8Array(4))).toBe("[Uint8Array 4 bytes]");
    expect(sanitizeForLog(new ArrayBuffer(3))).toBe("[ArrayBuffer 3 bytes]");
    expect(sanitizeForLog(new DataView(new ArrayBuffer(2)))).toBe("[DataView 2 bytes]");
    expect(sanitizeForLog({ x: new Float64Array(2) })).toEqual({ x: "[Float64Array 16 bytes]" });
  });

  test("depth and array length are bounded; shared (non-circular) references are not mistaken for cycles", () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    expect(JSON.stringify(sanitizeForLog(deep))).toContain("[Object]");
    const long = Array.from({ length: 150 }, (_, i) => i);
    const out = sanitizeForLog(long) as unknown[];
    expect(out.length).toBe(101);
    expect(out[100]).toBe("[50 more]");
    const s = { v: 1 };
    expect(sanitizeForLog({ a: s, b: s })).toEqual({ a: { v: 1 }, b: { v: 1 } });
  });

  test("undefined sensitive values stay undefined (nothing to hide, nothing printed)", () => {
    expect(sanitizeForLog({ token: undefined, x: 1 })).toEqual({ token: undefined, x: 1 });
  });
});

describe("prettySink", () => {
  test("returns null when pino-pretty cannot be loaded or has no prettyFactory, so callers fall back to JSON", async () => {
    const { prettySink } = await import("../../src/observability/pretty.ts");
    const sink = { write: () => true };
    expect(prettySink(sink, {}, () => {
      throw new Error("Cannot find module 'pino-pretty'");
    })).toBeNull();
    expect(prettySink(sink, {}, () => ({}))).toBeNull();
    expect(prettySink(sink)).not.toBeNull(); // installed as a dev dependency here
  });
});
