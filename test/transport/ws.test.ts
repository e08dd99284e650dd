// GET /ws over real sockets: text and binary frames, replies on the same socket, LiveSession semantics, limits.
import { afterEach, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/index.ts";
import type { LiveSession } from "../../src/transport/contract.ts";
import { deferred, startApp, type Started } from "./helpers.ts";

let s: Started | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** A client that queues every message and close event, so tests await them instead of sleeping. */
async function connect(url: string) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox: (string | ArrayBuffer)[] = [];
  const waiters: (() => void)[] = [];
  const closed = deferred<{ code: number; reason: string }>();
  ws.onmessage = (e) => {
    inbox.push(e.data as string | ArrayBuffer);
    for (const w of waiters.splice(0)) w();
  };
  ws.onclose = (e) => closed.resolve({ code: e.code, reason: e.reason });
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket failed to open"));
  });
  return {
    ws,
    closed: closed.promise,
    async next(): Promise<string | ArrayBuffer> {
      while (inbox.length === 0) await new Promise<void>((r) => waiters.push(r));
      return inbox.shift()!;
    },
  };
}

describe("GET /ws", () => {
  test("text and binary frames reach the core; replies come back in the same frame kind", async () => {
    s = startApp();
    s.core.respond = ({ bytes }) => ({ kind: "accepted", replies: [`reply:${new TextDecoder().decode(bytes)}`] });
    const c = await connect(s.wsUrl);
    c.ws.send('{"ciphertext":"t1"}');
    expect(await c.next()).toBe('reply:{"ciphertext":"t1"}');
    c.ws.send(new TextEncoder().encode('{"ciphertext":"b1"}'));
    const bin = await c.next();
    expect(bin).toBeInstanceOf(ArrayBuffer);
    expect(new TextDecoder().decode(bin as ArrayBuffer)).toBe('reply:{"ciphertext":"b1"}');
    expect(s.core.calls.map((x) => x.inbound.kind)).toEqual(["ws", "ws"]);
    const [a, b] = s.core.calls;
    expect(a!.inbound.session).toBeDefined();
    expect(a!.inbound.session).toBe(b!.inbound.session!); // one session per socket
    expect(a!.inbound.requestId).not.toBe(b!.inbound.requestId);
    c.ws.close();
  });

  test("frames are processed in order, one at a time", async () => {
    s = startApp();
    const gate = deferred<void>();
    let active = 0;
    let maxActive = 0;
    s.core.respond = async ({ bytes }) => {
      active++;
      maxActive = Math.max(maxActive, active);
      if (bytes[0] === 0x31) await gate.promise; // the first frame ("1") waits
      active--;
      return { kind: "accepted", replies: [new TextDecoder().decode(bytes)] };
    };
    const c = await connect(s.wsUrl);
    for (const m of ["1", "2", "3"]) c.ws.send(m);
    while (s.core.calls.length === 0) await Bun.sleep(1);
    gate.resolve();
    expect([await c.next(), await c.next(), await c.next()]).toEqual(["1", "2", "3"]);
    expect(maxActive).toBe(1);
    c.ws.close();
  });

  test("the session pushes messages while open; after close send() is false and onClose fired", async () => {
    s = startApp();
    const c = await connect(s.wsUrl);
    c.ws.send("hello");
    while (s.core.calls.length === 0) await Bun.sleep(1);
    const session: LiveSession = s.core.calls[0]!.inbound.session!;
    expect(session.open).toBe(true);
    expect(await session.send("live-1")).toBe(true);
    expect(await c.next()).toBe("live-1");
    const closedCb = deferred<void>();
    session.onClose(() => closedCb.resolve());
    c.ws.close(1000, "bye");
    await closedCb.promise;
    expect(session.open).toBe(false);
    expect(await session.send("live-2")).toBe(false);
    // Registering after close still runs the callback (asynchronously).
    const late = deferred<void>();
    session.onClose(() => late.resolve());
    await late.promise;
  });

  test("a frame larger than the message limit closes the socket (1009) without reaching the core", async () => {
    s = startApp({ env: { MAX_MESSAGE_BYTES: "1KiB" } });
    const c = await connect(s.wsUrl);
    c.ws.send("z".repeat(2048));
    expect((await c.closed).code).toBe(1009);
    expect(s.core.calls).toHaveLength(0);
  });

  test("exceeding the per-connection rate closes the socket with 1008", async () => {
    s = startApp({ env: { RATE_LIMIT_PER_CONNECTION: "2" }, clock: new ManualClock() });
    const c = await connect(s.wsUrl);
    for (const m of ["a", "b", "c"]) c.ws.send(m);
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(s.core.calls.length).toBeLessThanOrEqual(2);
  });

  test("a plain GET /ws is 426 with a JSON reason", async () => {
    s = startApp();
    const res = await fetch(s.base + "/ws");
    expect(res.status).toBe(426);
    expect(((await res.json()) as { error: string }).error).toBe("upgrade_required");
  });

  test("closing the app closes sockets with 1001 after in-flight frames are answered", async () => {
    s = startApp();
    const gate = deferred<void>();
    s.core.respond = async () => {
      await gate.promise;
      return { kind: "accepted", replies: ["late-reply"] };
    };
    const c = await connect(s.wsUrl);
    c.ws.send("x");
    while (s.app.inFlight === 0) await Bun.sleep(1);
    const closing = s.app.close({ drainTimeoutMs: 5000 });
    gate.resolve();
    expect(await c.next()).toBe("late-reply");
    expect((await c.closed).code).toBe(1001);
    expect(await closing).toEqual({ drained: true });
  });
});
