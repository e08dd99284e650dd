// POST / over real sockets: content types, size limits, rate limits, core outcomes, request ids, no 5xx.
import { afterEach, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/index.ts";
import { deferred, rawPost, startApp, statusesOnOneConnection, type Started } from "./helpers.ts";

const ENC = "application/didcomm-encrypted+json";
const SIGNED = "application/didcomm-signed+json";
let s: Started | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const post = (body: string | ReadableStream<Uint8Array>, contentType: string | null = ENC, headers: Record<string, string> = {}) =>
  fetch(s!.base + "/", { method: "POST", body, headers: { ...(contentType === null ? {} : { "content-type": contentType }), ...headers } });

describe("POST /", () => {
  test("a one-way message gets 202 with no body; the core sees the exact bytes", async () => {
    s = startApp();
    const body = '{"protected":"abc","ciphertext":"xyz"}';
    const res = await post(body);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe("");
    expect(s.core.calls).toHaveLength(1);
    const call = s.core.calls[0]!;
    expect(new TextDecoder().decode(call.bytes)).toBe(body);
    expect(call.inbound.kind).toBe("http");
    expect(call.inbound.session).toBeUndefined();
    expect(call.inbound.requestId).toBe(res.headers.get("x-request-id")!);
  });

  test("a return-route reply is the 200 body with the DIDComm content type", async () => {
    s = startApp();
    const reply = '{"protected":"p","ciphertext":"reply"}';
    s.core.respond = () => ({ kind: "accepted", replies: [reply] });
    const res = await post("{}", `${SIGNED}; charset=utf-8`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(ENC);
    expect(await res.text()).toBe(reply);
  });

  test("content types are matched case-insensitively, parameters ignored", async () => {
    s = startApp();
    for (const ct of [ENC, SIGNED, "Application/DIDComm-Encrypted+JSON", `${ENC} ; charset=UTF-8`]) {
      expect((await post("{}", ct)).status).toBe(202);
    }
    expect(s.core.calls).toHaveLength(4);
  });

  test("wrong or missing content type -> 415 with a JSON reason, core untouched", async () => {
    s = startApp();
    for (const ct of ["text/plain", "application/didcomm-plain+json", "application/json", "application/didcomm-encrypted", null]) {
      const res = await post("{}", ct);
      expect(res.status).toBe(415);
      const body = (await res.json()) as { error: string; reason: string };
      expect(body.error).toBe("unsupported_media_type");
      expect(body.reason.length).toBeGreaterThan(0);
    }
    expect(s.core.calls).toHaveLength(0);
  });

  test("body over the limit -> 413 (declared length), at the limit -> accepted", async () => {
    s = startApp({ env: { MAX_MESSAGE_BYTES: "1KiB" } });
    const over = await post("x".repeat(1025));
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: string }).error).toBe("payload_too_large");
    expect((await post("x".repeat(1024))).status).toBe(202);
    expect(s.core.calls).toHaveLength(1);
    expect(s.core.calls[0]!.bytes.byteLength).toBe(1024);
  });

  test("chunked body over the limit -> 413 without buffering it", async () => {
    s = startApp({ env: { MAX_MESSAGE_BYTES: "1KiB" } });
    const chunk = new TextEncoder().encode("y".repeat(300));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(chunk);
        c.close();
      },
    });
    const res = await post(stream);
    expect(res.status).toBe(413);
    expect(s.core.calls).toHaveLength(0);
  });

  test("empty body -> 400", async () => {
    s = startApp();
    const res = await post("");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("bad_request");
  });

  test("rate limit per connection -> 429 with Retry-After; another connection is unaffected", async () => {
    // A ManualClock that never moves: the bucket never refills, so the outcome does not depend on timing.
    s = startApp({ env: { RATE_LIMIT_PER_CONNECTION: "2" }, clock: new ManualClock() });
    const first = await statusesOnOneConnection(s.base, [rawPost("{}"), rawPost("{}"), rawPost("{}")]);
    expect(first.map((r) => r.status)).toEqual([202, 202, 429]);
    expect(/\r\nretry-after: (\d+)/i.exec(first[2]!.head)?.[1]).toBe("1");
    const second = await statusesOnOneConnection(s.base, [rawPost("{}")]);
    expect(second.map((r) => r.status)).toEqual([202]);
    expect(s.core.calls).toHaveLength(3);
  });

  test("core rejections map to their status with {error, reason}; 503 carries Retry-After", async () => {
    s = startApp();
    s.core.respond = () => ({ kind: "rejected", httpStatus: 409, code: "e.p.msg.replay", reason: "message id already seen", replies: [] });
    const conflict = await post("{}");
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({ error: "e.p.msg.replay", reason: "message id already seen" });

    s.core.respond = () => ({ kind: "rejected", httpStatus: 503, code: "unavailable", reason: "storage busy", replies: [] });
    const busy = await post("{}");
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("1");
  });

  test("a rejection with a problem report sends the packed report as the body", async () => {
    s = startApp();
    const report = '{"protected":"p","ciphertext":"problem"}';
    s.core.respond = () => ({ kind: "rejected", httpStatus: 400, code: "e.p.msg", reason: "bad", replies: [report] });
    const res = await post("{}");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe(ENC);
    expect(await res.text()).toBe(report);
  });

  test("a core that throws yields 503, not 500", async () => {
    s = startApp();
    s.core.respond = () => {
      throw new TypeError("boom");
    };
    const res = await post("{}");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toBe("unavailable");
  });

  test("x-request-id: a safe one is echoed, an unsafe one replaced", async () => {
    s = startApp();
    const ok = await post("{}", ENC, { "x-request-id": "abc-123" });
    expect(ok.headers.get("x-request-id")).toBe("abc-123");
    expect(s.core.calls[0]!.inbound.requestId).toBe("abc-123");
    const bad = await post("{}", ENC, { "x-request-id": "a b\"c" });
    const id = bad.headers.get("x-request-id")!;
    expect(id).not.toContain(" ");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("logs carry the request id but never the body", async () => {
    s = startApp();
    s.core.respond = () => ({ kind: "rejected", httpStatus: 400, code: "e.p.msg", reason: "bad", replies: [] });
    const marker = "BODY-MARKER-7f3a";
    const res = await post(`{"ciphertext":"${marker}"}`, ENC, { "x-request-id": "req-log-1" });
    expect(res.status).toBe(400);
    const logs = s.lines.join("");
    expect(logs).toContain("req-log-1");
    expect(logs).not.toContain(marker);
  });

  test("unknown routes and methods -> 404 JSON", async () => {
    s = startApp();
    for (const [method, path] of [["GET", "/nope"], ["PUT", "/"], ["DELETE", "/invitation"]] as const) {
      const res = await fetch(s.base + path, { method });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe("not_found");
    }
  });

  test("before the core is attached: POST and invitation 503, readiness fails", async () => {
    s = startApp({ attach: false });
    expect((await post("{}")).status).toBe(503);
    expect((await fetch(s.base + "/invitation")).status).toBe(503);
    const ready = await fetch(s.base + "/health/ready");
    expect(ready.status).toBe(503);
    const report = (await ready.json()) as { checks: { name: string; status: string }[] };
    expect(report.checks).toContainEqual(expect.objectContaining({ name: "startup", status: "fail" }));
  });
});

describe("graceful close", () => {
  test("in-flight requests finish, new connections are refused", async () => {
    s = startApp();
    const gate = deferred<void>();
    s.core.respond = async () => {
      await gate.promise;
      return { kind: "accepted", replies: [] };
    };
    const pending = post("{}");
    while (s.app.inFlight === 0) await Bun.sleep(1); // wait until the request reached the core
    const closing = s.app.close({ drainTimeoutMs: 5000 });
    gate.resolve();
    expect((await pending).status).toBe(202);
    expect(await closing).toEqual({ drained: true });
    await expect(fetch(s.base + "/health/live")).rejects.toThrow();
  });

  test("a drain that times out reports drained=false", async () => {
    s = startApp();
    s.core.respond = () => new Promise(() => {}); // never answers
    const pending = post("{}").catch(() => null);
    while (s.app.inFlight === 0) await Bun.sleep(1);
    expect(await s.app.close({ drainTimeoutMs: 50 })).toEqual({ drained: false });
    await pending;
  });
});
