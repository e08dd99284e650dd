// FaultProxy unit tests against a local echo server (pass, cut, blackhole hold/discard, one-way, delay order, reset) and a real nats-server.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { seededRandom } from "../../src/runtime/random.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";

// Real processes: bunfig's [test] timeout is not honoured by this Bun, so set the ceiling per file.
setDefaultTimeout(30_000);

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Polls `cond` until true; a bounded poll, not a timing assumption (fails with `what` at the deadline). */
async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Target: echoes everything back (unless `echo` is off) and records what it received per connection. */
function startEchoServer() {
  const state = { echo: true, received: "", sockets: new Set<Bun.Socket<undefined>>() };
  const server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => void state.sockets.add(s),
      data: (s, bytes) => {
        state.received += dec.decode(bytes);
        if (state.echo) s.write(bytes);
      },
      close: (s) => void state.sockets.delete(s),
    },
  });
  return { server, state, push: (text: string) => state.sockets.forEach((s) => s.write(text)) };
}

async function client(port: number) {
  const state = { received: "", closed: false };
  const socket = await Bun.connect<undefined>({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, bytes) => void (state.received += dec.decode(bytes)),
      close: () => void (state.closed = true),
      error: () => void (state.closed = true),
    },
  });
  return { socket, state };
}

describe("FaultProxy (echo target)", () => {
  const echo = startEchoServer();
  let proxy: FaultProxy;

  beforeAll(() => {
    proxy = FaultProxy.start({ target: `127.0.0.1:${echo.server.port}` });
  });
  afterEach(() => {
    proxy.pass();
    proxy.reset();
    echo.state.echo = true;
    echo.state.received = "";
  });
  afterAll(() => {
    proxy.close();
    echo.server.stop(true);
  });

  test("pass forwards both ways and counts bytes", async () => {
    const c = await client(proxy.port);
    c.socket.write("hello");
    await until("echo", () => c.state.received === "hello");
    expect(proxy.stats.bytesUp).toBeGreaterThanOrEqual(5);
    expect(proxy.stats.bytesDown).toBeGreaterThanOrEqual(5);
    expect(proxy.stats.active).toBe(1);
    c.socket.end();
  });

  test("cut closes connections and refuses new ones; pass accepts again", async () => {
    const c = await client(proxy.port);
    c.socket.write("x");
    await until("echo", () => c.state.received === "x");
    proxy.cut();
    await until("client close", () => c.state.closed);
    expect(proxy.stats.active).toBe(0);
    expect(client(proxy.port)).rejects.toThrow();
    proxy.pass();
    const c2 = await client(proxy.port);
    c2.socket.write("again");
    await until("echo after cut", () => c2.state.received === "again");
    c2.socket.end();
  });

  test("blackhole (hold) passes nothing either way, then delivers the held bytes intact on pass", async () => {
    const c = await client(proxy.port);
    c.socket.write("a");
    await until("echo a", () => c.state.received === "a");
    proxy.blackhole();
    c.socket.write("bc");
    await until("bytes held at the proxy", () => proxy.stats.queuedUp === 2);
    expect(echo.state.received).toBe("a");
    echo.push("!");
    await until("pushed bytes held", () => proxy.stats.queuedDown === 1);
    expect(c.state.received).toBe("a");
    proxy.pass();
    await until("held bytes delivered", () => c.state.received.length === 4);
    expect(c.state.received).toMatch(/^a(!bc|bc!)$/);
    expect(echo.state.received).toBe("abc");
    c.socket.end();
  });

  test("blackhole (discard) drops bytes; pass then resets the corrupted connection", async () => {
    const c = await client(proxy.port);
    proxy.blackhole({ policy: "discard" });
    const resetsBefore = proxy.stats.resets;
    c.socket.write("lost");
    await until("bytes dropped", () => proxy.stats.droppedUp === 4);
    proxy.pass();
    await until("corrupted connection reset", () => c.state.closed);
    expect(proxy.stats.resets).toBe(resetsBefore + 1);
    expect(echo.state.received).toBe("");
    const c2 = await client(proxy.port);
    c2.socket.write("kept");
    await until("echo", () => c2.state.received === "kept");
    c2.socket.end();
  });

  test("oneWay('down') lets requests reach the target but holds replies", async () => {
    const c = await client(proxy.port);
    proxy.oneWay("down");
    c.socket.write("ping");
    await until("target got the request", () => echo.state.received === "ping");
    await until("reply held", () => proxy.stats.queuedDown === 4);
    expect(c.state.received).toBe("");
    proxy.pass();
    await until("reply delivered", () => c.state.received === "ping");
    c.socket.end();
  });

  test("oneWay('up') holds requests while the target's pushes still arrive", async () => {
    const c = await client(proxy.port);
    await until("target sees the connection", () => echo.state.sockets.size === 1);
    proxy.oneWay("up");
    c.socket.write("req");
    await until("request held", () => proxy.stats.queuedUp === 3);
    echo.push("news");
    await until("push delivered", () => c.state.received === "news");
    expect(echo.state.received).toBe("");
    proxy.pass();
    await until("request delivered and echoed", () => c.state.received === "newsreq");
    c.socket.end();
  });

  test("delay with jitter keeps byte order within a direction", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    console.log(`fault-proxy delay test seed=${seed} (replay with SEED=${seed})`);
    proxy.delay(5, 20, seededRandom(seed));
    const c = await client(proxy.port);
    let expected = "";
    for (let i = 0; i < 200; i++) {
      const chunk = `<${i}>`;
      expected += chunk;
      c.socket.write(chunk);
    }
    await until("all echoed", () => c.state.received.length >= expected.length, 10_000);
    expect(c.state.received).toBe(expected);
    c.socket.end();
  });

  test("reset closes current connections only", async () => {
    const c = await client(proxy.port);
    c.socket.write("1");
    await until("echo", () => c.state.received === "1");
    proxy.reset();
    await until("client closed", () => c.state.closed);
    const c2 = await client(proxy.port);
    c2.socket.write("2");
    await until("echo after reset", () => c2.state.received === "2");
    c2.socket.end();
  });

  test("a large transfer through a held link with a small queue bound arrives complete and in order", async () => {
    const small = FaultProxy.start({ target: `127.0.0.1:${echo.server.port}`, maxQueuedBytes: 64 * 1024 });
    try {
      echo.state.echo = false;
      const c = await client(small.port);
      small.blackhole();
      const total = 2 * 1024 * 1024;
      const payload = Buffer.alloc(total);
      for (let i = 0; i < total; i++) payload[i] = 97 + (i % 26);
      let offset = 0;
      const pump = () => {
        while (offset < total) {
          const n = c.socket.write(payload.subarray(offset, Math.min(total, offset + 65536)));
          if (n <= 0) return;
          offset += n;
        }
      };
      c.socket.reload({ socket: { drain: pump, data: () => {}, close: () => {} } });
      pump();
      await until("queue filled to its bound", () => small.stats.queuedUp > 64 * 1024);
      expect(small.stats.queuedUp).toBeLessThanOrEqual(64 * 1024 + 4 * 65536);
      small.pass();
      await until("all bytes arrived", () => echo.state.received.length >= total, 20_000);
      expect(echo.state.received).toBe(payload.toString("latin1"));
      c.socket.end();
    } finally {
      small.close();
    }
  }, 30_000);

  test("rejects non-loopback targets and bad delays", () => {
    expect(() => FaultProxy.start({ target: "10.0.0.1:4222" })).toThrow(RangeError);
    expect(() => proxy.delay(-1)).toThrow(RangeError);
  });
});

describe("FaultProxy in front of nats-server", () => {
  let nats: NatsCluster;
  let proxy: FaultProxy;

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: false });
    proxy = FaultProxy.start({ target: nats.url });
  });
  afterAll(async () => {
    proxy?.close();
    await nats?.stop();
  });

  test("a NATS client sees the cut as a disconnect and reconnects after pass", async () => {
    const nc = await connect({ servers: proxy.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    const seen: string[] = [];
    void (async () => {
      for await (const s of nc.status()) seen.push(s.type);
    })();
    const sub = nc.subscribe("fp.echo", { callback: (_e, m) => void m.respond(m.data) });
    expect(dec.decode((await nc.request("fp.echo", enc.encode("one"), { timeout: 2000 })).data)).toBe("one");

    proxy.cut();
    await until("disconnect seen", () => seen.includes("disconnect"));
    proxy.pass();
    await until("reconnect seen", () => seen.includes("reconnect"));
    expect(dec.decode((await nc.request("fp.echo", enc.encode("two"), { timeout: 2000 })).data)).toBe("two");
    sub.unsubscribe();
    await nc.close();
  });
});
