// Small transport units: token buckets, the bounded body reader, the content-type policy, InFlight.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/index.ts";
import { readBoundedBody } from "../../src/transport/body.ts";
import { checkContentType } from "../../src/transport/content-type.ts";
import { InFlight } from "../../src/transport/inflight.ts";
import { KeyedLimiter, TokenBucket } from "../../src/transport/rate-limit.ts";

describe("TokenBucket / KeyedLimiter", () => {
  test("allows a burst, then refills at the rate", () => {
    const b = new TokenBucket(10, 2, 0);
    expect([b.take(0), b.take(0)]).toEqual([0, 0]);
    expect(b.take(0)).toBe(100); // one token takes 100 ms at 10/s
    expect(b.take(50)).toBe(50);
    expect(b.take(100)).toBe(0);
  });

  test("keys are independent and bounded by maxKeys (LRU forgotten = reset to full)", () => {
    const clock = new ManualClock();
    const l = new KeyedLimiter({ ratePerSecond: 1, maxKeys: 2, clock });
    expect(l.take("a")).toBe(0);
    expect(l.take("a")).toBeGreaterThan(0);
    expect(l.take("b")).toBe(0);
    expect(l.take("c")).toBe(0); // evicts "a"
    expect(l.size).toBe(2);
    expect(l.take("a")).toBe(0);
  });

  test("rejects nonsense parameters", () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
    expect(() => new KeyedLimiter({ ratePerSecond: 1, maxKeys: 0, clock: new ManualClock() })).toThrow(RangeError);
  });
});

describe("readBoundedBody", () => {
  const req = (body: string | ReadableStream<Uint8Array> | null, headers: Record<string, string> = {}) =>
    new Request("http://localhost/", { method: "POST", body, headers });

  test("reads a body within the limit", async () => {
    const r = await readBoundedBody(req("hello"), { maxBytes: 5, timeoutMs: 1000, clock: new ManualClock() });
    expect(r.ok && new TextDecoder().decode(r.bytes)).toBe("hello");
  });

  test("413 on a declared length over the limit without reading", async () => {
    let pulled = false;
    // highWaterMark 0: the stream pulls only when read, so `pulled` says whether we read.
    const stream = new ReadableStream<Uint8Array>({ pull: () => void (pulled = true) }, { highWaterMark: 0 });
    const r = await readBoundedBody(req(stream, { "content-length": "6" }), { maxBytes: 5, timeoutMs: 1000, clock: new ManualClock() });
    expect(r).toEqual({ ok: false, status: 413, reason: "body larger than 5 bytes" });
    expect(pulled).toBe(false);
  });

  test("413 when a streamed body crosses the limit, cancelling the stream", async () => {
    let cancelled = false;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        sent++;
        c.enqueue(new Uint8Array(4));
      },
      cancel: () => void (cancelled = true),
    });
    const r = await readBoundedBody(req(stream), { maxBytes: 10, timeoutMs: 1000, clock: new ManualClock() });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.status).toBe(413);
    expect(cancelled).toBe(true);
    expect(sent).toBeLessThan(10);
  });

  test("408 when the body does not arrive before the deadline", async () => {
    const clock = new ManualClock();
    const stream = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) }); // trickles nothing
    const pending = readBoundedBody(req(stream), { maxBytes: 10, timeoutMs: 500, clock });
    await clock.advanceAsync(500);
    const r = await pending;
    expect(!r.ok && r.status).toBe(408);
  });

  test("408 on the declared-length path too", async () => {
    const clock = new ManualClock();
    const stream = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const pending = readBoundedBody(req(stream, { "content-length": "5" }), { maxBytes: 10, timeoutMs: 500, clock });
    await clock.advanceAsync(500);
    const r = await pending;
    expect(!r.ok && r.status).toBe(408);
  });

  test("400 on a malformed content-length or an empty body", async () => {
    const clock = new ManualClock();
    const bad = new Request("http://localhost/", { method: "POST", body: "x", headers: { "content-length": "1" } });
    bad.headers.set("content-length", "-1");
    expect((await readBoundedBody(bad, { maxBytes: 10, timeoutMs: 10, clock })).ok).toBe(false);
    const empty = await readBoundedBody(req(""), { maxBytes: 10, timeoutMs: 10, clock });
    expect(!empty.ok && empty.status).toBe(400);
  });
});

describe("checkContentType", () => {
  test("accepts only encrypted and signed DIDComm", () => {
    expect(checkContentType("application/didcomm-encrypted+json")).toEqual({ ok: true, mediaType: "application/didcomm-encrypted+json" });
    expect(checkContentType("application/didcomm-signed+json;charset=utf-8").ok).toBe(true);
    for (const bad of [null, "", "text/html", "application/didcomm-plain+json", "application/json", "x".repeat(300)]) {
      expect(checkContentType(bad).ok).toBe(false);
    }
  });
});

describe("InFlight", () => {
  test("drain resolves when the count reaches zero, or false on timeout", async () => {
    const clock = new ManualClock();
    const f = new InFlight();
    expect(await f.drain(10, clock)).toBe(true);
    f.enter();
    const d = f.drain(100, clock);
    f.leave();
    expect(await d).toBe(true);
    f.enter();
    const t = f.drain(100, clock);
    clock.advance(100);
    expect(await t).toBe(false);
    f.leave();
    expect(() => f.leave()).toThrow();
  });
});
