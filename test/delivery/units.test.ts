// Pure pieces of the delivery core: destinations, retry policy, webhook signing, outcome classification.
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { seededRandom, seedFromEnv, type Random } from "../../src/runtime/random.ts";
import {
  backoffCeilingMs,
  backoffMs,
  classifyStatus,
  DeliveryError,
  destinationKey,
  destinationOf,
  nextRetry,
  parseRetryAfter,
  resolveRetryPolicy,
  signBody,
  verifySignature,
  webhookBody,
  webhookHeaders,
} from "../../src/delivery/index.ts";

describe("destinationOf", () => {
  test("scheme + host + port with default ports made explicit; path, query and case do not matter", () => {
    expect(destinationOf("https://Hooks.Example.com/a?b=1")).toBe("https://hooks.example.com:443");
    expect(destinationOf("https://hooks.example.com:443/other")).toBe("https://hooks.example.com:443");
    expect(destinationOf("http://hooks.example.com/x")).toBe("http://hooks.example.com:80");
    expect(destinationOf("http://127.0.0.1:8080/x")).toBe("http://127.0.0.1:8080");
    expect(destinationOf("https://[::1]:8443/")).toBe("https://[::1]:8443");
    expect(destinationOf("http://a.example:443/")).not.toBe(destinationOf("https://a.example/"));
  });
  test("rejects other schemes, credentials, garbage and oversized URLs with DeliveryError", () => {
    for (const bad of ["ftp://x/", "not a url", "", "https://user:pw@x.example/", `https://x.example/${"a".repeat(3000)}`]) {
      expect(() => destinationOf(bad)).toThrow(DeliveryError);
    }
  });
  test("KV key is base64url of the destination", () => {
    const key = destinationKey("https://hooks.example.com:443");
    expect(key).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(key, "base64url").toString()).toBe("https://hooks.example.com:443");
  });
});

describe("retry policy", () => {
  const policy = resolveRetryPolicy({ baseMs: 100, capMs: 1000, maxAttempts: 5 });
  test("ceiling doubles from base and stops at cap, without overflow", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffCeilingMs(policy, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffCeilingMs(policy, 10_000)).toBe(1000);
  });
  test("full jitter stays within [0, ceiling] and covers the range (seeded)", () => {
    const { seed, random: r } = seedFromEnv();
    console.log(`retry jitter SEED=${seed}`);
    for (let attempt = 1; attempt <= 6; attempt++) {
      const draws = Array.from({ length: 2000 }, () => backoffMs(policy, attempt, r));
      const ceiling = backoffCeilingMs(policy, attempt);
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThanOrEqual(ceiling);
      // 2000 uniform draws: the lowest and highest tenth are both hit (failure probability ~1e-91).
      expect(draws.some((d) => d < ceiling / 10)).toBe(true);
      expect(draws.some((d) => d > (ceiling * 9) / 10)).toBe(true);
    }
  });
  test("nextRetry gives up after maxAttempts", () => {
    const r = seededRandom(1);
    expect(nextRetry(policy, 4, 1000, r)).toMatchObject({ retry: true });
    expect(nextRetry(policy, 5, 1000, r)).toEqual({ retry: false });
  });
  test("options are bounded", () => {
    expect(() => resolveRetryPolicy({ baseMs: 0 })).toThrow(DeliveryError);
    expect(() => resolveRetryPolicy({ baseMs: 1000, capMs: 10 })).toThrow(DeliveryError);
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(DeliveryError);
    expect(resolveRetryPolicy()).toEqual({ baseMs: 1000, capMs: 300_000, maxAttempts: 8 });
  });
  test("a Random at its maximum yields exactly the ceilings", () => {
    const top: Random = { next: () => 0.999, int: (n) => n - 1, bytes: (n) => new Uint8Array(n) };
    expect([1, 2, 3].map((n) => backoffMs(policy, n, top))).toEqual([100, 200, 400]);
  });
});

describe("webhook signing", () => {
  const secret = "0123456789abcdef-webhook-secret";
  const body = webhookBody({ eventId: "evt-1", recipientDid: "did:example:alice", messageCount: 3, createdAtMs: Date.UTC(2025, 0, 1) });
  test("body holds ids and counts only", () => {
    const parsed = JSON.parse(new TextDecoder().decode(body));
    expect(parsed).toEqual({ type: "messages.waiting", event_id: "evt-1", recipient_did: "did:example:alice", message_count: 3, created_at: "2025-01-01T00:00:00.000Z" });
  });
  test("signature is sha256= + hex HMAC-SHA256(secret, exact body bytes)", () => {
    expect(signBody(secret, body)).toBe(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
    // RFC 4231 test case 1: key = 20 bytes of 0x0b, data "Hi There".
    expect(signBody(new Uint8Array(20).fill(0x0b), new TextEncoder().encode("Hi There"))).toBe(
      "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    );
  });
  test("headers: Idempotency-Key, signature, timestamp; verify accepts it and rejects tampering", () => {
    const h = webhookHeaders({ eventId: "evt-1", secret, body, nowMs: 1_700_000_000_123 });
    expect(h["Idempotency-Key"]).toBe("evt-1");
    expect(h["X-Haven-Timestamp"]).toBe("1700000000");
    expect(h["X-Haven-Signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(secret, body, h["X-Haven-Signature"])).toBe(true);
    const tampered = body.slice();
    tampered[tampered.length - 2]! ^= 1;
    expect(verifySignature(secret, tampered, h["X-Haven-Signature"])).toBe(false);
    expect(verifySignature("another-secret-of-16+", body, h["X-Haven-Signature"])).toBe(false);
    expect(verifySignature(secret, body, "sha256=zz")).toBe(false);
    expect(verifySignature(secret, body, null)).toBe(false);
  });
  test("weak secrets and bad fields are refused", () => {
    expect(() => signBody("short", body)).toThrow(DeliveryError);
    expect(() => webhookBody({ eventId: "", recipientDid: "did:x", messageCount: 1, createdAtMs: 0 })).toThrow(DeliveryError);
    expect(() => webhookBody({ eventId: "e", recipientDid: "did:x", messageCount: 0, createdAtMs: 0 })).toThrow(DeliveryError);
  });
});

describe("outcome classification", () => {
  test("2xx success; 408/429/5xx retryable and unhealthy; other 4xx permanent but healthy", () => {
    expect(classifyStatus(204)).toMatchObject({ verdict: "success", healthy: true });
    for (const s of [408, 429, 500, 502, 503, 599]) expect(classifyStatus(s)).toMatchObject({ verdict: "retryable", healthy: false });
    for (const s of [400, 401, 404, 410, 422]) expect(classifyStatus(s)).toMatchObject({ verdict: "permanent", healthy: true });
    expect(classifyStatus(302)).toMatchObject({ verdict: "permanent" });
  });
  test("Retry-After in seconds only, bounded", () => {
    expect(classifyStatus(429, "7").retryAfterMs).toBe(7000);
    expect(classifyStatus(503, "2").retryAfterMs).toBe(2000);
    expect(classifyStatus(500, "2").retryAfterMs).toBeNull();
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT")).toBeNull();
    expect(parseRetryAfter("999999999")).toBeNull();
  });
});
