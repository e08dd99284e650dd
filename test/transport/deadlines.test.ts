// DeadlineQueue: one timer for many same-length deadlines; order, cancellation, bounded memory, the body reader on it.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/index.ts";
import { readBoundedBody } from "../../src/transport/body.ts";
import { DeadlineQueue } from "../../src/transport/deadlines.ts";

describe("DeadlineQueue", () => {
  test("deadlines fire in order at timeoutMs after they were added, once, with a single timer pending", () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock, 100);
    const fired: string[] = [];
    q.add(() => fired.push("a"));
    clock.advance(30);
    q.add(() => fired.push("b"));
    q.add(() => fired.push("c"));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(69);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual(["a"]);
    expect(clock.pendingTimers).toBe(1); // re-armed for b and c
    clock.advance(30);
    expect(fired).toEqual(["a", "b", "c"]);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1000);
    expect(fired).toEqual(["a", "b", "c"]);
  });

  test("a cancelled deadline never fires; finished heads are dropped at once (memory stays bounded)", () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock, 1000);
    const fired: number[] = [];
    const ds = Array.from({ length: 5000 }, (_, i) => q.add(() => fired.push(i)));
    expect(q.size).toBe(5000);
    // Out of order first: the head is still pending, nothing can be dropped yet.
    ds[1]!.cancel();
    expect(q.size).toBe(5000);
    for (let i = 0; i < 4999; i++) if (i !== 1) ds[i]!.cancel();
    expect(q.size).toBe(1); // only the last, still pending
    clock.advance(1000);
    expect(fired).toEqual([4999]);
    expect(q.size).toBe(0);
  });

  test("a callback may add a deadline; clear() stops everything", () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock, 10);
    let n = 0;
    const again = (): void => {
      n++;
      if (n < 3) q.add(again);
    };
    q.add(again);
    for (let i = 0; i < 5; i++) clock.advance(10);
    expect(n).toBe(3);
    q.add(() => n++);
    q.clear();
    clock.advance(100);
    expect(n).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  test("timeoutMs must be a positive integer", () => {
    expect(() => new DeadlineQueue(new ManualClock(), 0)).toThrow(RangeError);
    expect(() => new DeadlineQueue(new ManualClock(), 1.5)).toThrow(RangeError);
  });
});

describe("readBoundedBody on a shared DeadlineQueue", () => {
  const stalled = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("ab"));
      },
    });

  test("408 for a stalled body (declared length and streamed), the fast path reads a complete body", async () => {
    const clock = new ManualClock();
    const deadlines = new DeadlineQueue(clock, 500);
    const opts = { maxBytes: 10, timeoutMs: 500, clock, deadlines };
    const declared = readBoundedBody(new Request("http://x/", { method: "POST", body: stalled(), headers: { "content-length": "5" } }), opts);
    const streamed = readBoundedBody(new Request("http://x/", { method: "POST", body: stalled() }), opts);
    const ok = await readBoundedBody(new Request("http://x/", { method: "POST", body: "hello", headers: { "content-length": "5" } }), opts);
    expect(ok.ok && new TextDecoder().decode(ok.bytes)).toBe("hello");
    expect(clock.pendingTimers).toBe(1);
    clock.advance(500);
    const [a, b] = await Promise.all([declared, streamed]);
    expect(!a.ok && a.status).toBe(408);
    expect(!b.ok && b.status).toBe(408);
  });

  test("a queue whose timeout differs from the body timeout is a bug, refused", async () => {
    const clock = new ManualClock();
    const opts = { maxBytes: 10, timeoutMs: 500, clock, deadlines: new DeadlineQueue(clock, 400) };
    const req = new Request("http://x/", { method: "POST", body: "hello", headers: { "content-length": "5" } });
    await expect(readBoundedBody(req, opts)).rejects.toThrow("invariant");
  });
});
