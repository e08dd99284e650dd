// A TCP fault-injection proxy for tests (e.g. between a Haven node and NATS): pass, cut, blackhole, one-way loss, delay with jitter, reset.
import { seededRandom, type Random } from "../../src/runtime/random.ts";
import { freePort } from "./ports.ts";

/** "up" is client -> target, "down" is target -> client. */
export type Direction = "up" | "down";

/**
 * How bytes that may not pass are treated:
 * - "hold" (default) stalls them: they are queued at the proxy (beyond maxQueuedBytes the source is paused), TCP-like:
 *   a real partition loses no bytes, TCP retransmits, and the stream resumes intact when it heals;
 * - "discard" drops them (the stream is then corrupt, so pass() resets those connections, as a TCP timeout eventually would).
 */
export type BlockPolicy = "hold" | "discard";

export interface FaultProxyOptions {
  /** Where to forward: "nats://127.0.0.1:4222", "127.0.0.1:4222" or { host, port }. Loopback only. */
  target: string | { host?: string; port: number };
  /** Port to listen on (127.0.0.1); default a free one. */
  port?: number;
  /** Source of delay jitter (default seededRandom(env SEED or 1)). */
  random?: Random;
  /** Bytes queued per connection and direction beyond which the source is paused (default 8 MiB, bounds 64 KiB..1 GiB). */
  maxQueuedBytes?: number;
}

export interface FaultProxyStats {
  accepted: number;
  active: number;
  /** Bytes delivered to the target / to the client. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes currently queued (held or delayed) per direction across connections. */
  queuedUp: number;
  queuedDown: number;
  /** Bytes discarded per direction. */
  droppedUp: number;
  droppedDown: number;
  /** Connections closed abruptly by cut(), reset() or pass() after discard. */
  resets: number;
}

export type FaultMode =
  | { kind: "pass" }
  | { kind: "cut" }
  | { kind: "blackhole"; policy: BlockPolicy }
  | { kind: "oneWay"; direction: Direction; policy: BlockPolicy };

type Sock = Bun.Socket<Conn | null>;
const MAX_DELAY_MS = 60_000;

class Pipe {
  queue: { bytes: Uint8Array; atMs: number }[] = [];
  queuedBytes = 0;
  lastAtMs = 0;
  pendingEnd = false;
  pausedSource = false;
  /** Bytes were discarded: the stream is corrupt from here on. */
  corrupted = false;
  timer: Timer | undefined;
  constructor(readonly dir: Direction) {}
}

class Conn {
  upstream: Sock | null = null;
  readonly up = new Pipe("up");
  readonly down = new Pipe("down");
  clientClosed = false;
  upstreamClosed = false;
  constructor(readonly client: Sock) {}
  source(p: Pipe): Sock | null {
    return p.dir === "up" ? (this.clientClosed ? null : this.client) : this.upstreamClosed ? null : this.upstream;
  }
  dest(p: Pipe): Sock | null {
    return p.dir === "up" ? (this.upstreamClosed ? null : this.upstream) : this.clientClosed ? null : this.client;
  }
}

function parseTarget(t: FaultProxyOptions["target"]): { host: string; port: number } {
  let host = "127.0.0.1";
  let port: number;
  if (typeof t === "string") {
    const m = /^(?:[a-z]+:\/\/)?([^:/]+):(\d+)\/?$/.exec(t);
    if (!m) throw new RangeError(`fault proxy target must look like host:port, got ${t}`);
    host = m[1]!;
    port = Number(m[2]);
  } else {
    host = t.host ?? host;
    port = t.port;
  }
  if (host !== "127.0.0.1" && host !== "localhost") throw new RangeError("fault proxy targets loopback only");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad target port ${port}`);
  return { host: "127.0.0.1", port };
}

export class FaultProxy {
  readonly port: number;
  readonly target: { host: string; port: number };
  #listener: Bun.TCPSocketListener<Conn | null> | null = null;
  readonly #conns = new Set<Conn>();
  #mode: FaultMode = { kind: "pass" };
  #delayMs = 0;
  #jitterMs = 0;
  #random: Random;
  readonly #maxQueuedBytes: number;
  #closed = false;
  readonly #stats = { accepted: 0, bytesUp: 0, bytesDown: 0, droppedUp: 0, droppedDown: 0, resets: 0 };

  private constructor(opts: FaultProxyOptions) {
    this.target = parseTarget(opts.target);
    this.port = opts.port ?? freePort();
    this.#random = opts.random ?? seededRandom(BigInt(process.env.SEED ?? 1));
    this.#maxQueuedBytes = opts.maxQueuedBytes ?? 8 * 2 ** 20;
    if (!Number.isInteger(this.#maxQueuedBytes) || this.#maxQueuedBytes < 2 ** 16 || this.#maxQueuedBytes > 2 ** 30) {
      throw new RangeError("maxQueuedBytes must be within 64 KiB..1 GiB");
    }
  }

  /** Starts listening on 127.0.0.1 in "pass" mode. */
  static start(opts: FaultProxyOptions): FaultProxy {
    const proxy = new FaultProxy(opts);
    proxy.#listen();
    return proxy;
  }

  /** "nats://127.0.0.1:<port>": the URL clients use instead of the target's. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  /** "127.0.0.1:<port>". */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get mode(): FaultMode {
    return this.#mode;
  }

  get stats(): FaultProxyStats {
    let queuedUp = 0;
    let queuedDown = 0;
    for (const c of this.#conns) {
      queuedUp += c.up.queuedBytes;
      queuedDown += c.down.queuedBytes;
    }
    return { ...this.#stats, active: this.#conns.size, queuedUp, queuedDown };
  }

  /** Normal forwarding: clears blocking and delay, flushes held bytes, resets connections that lost bytes. */
  pass(): void {
    this.#delayMs = 0;
    this.#jitterMs = 0;
    this.#setMode({ kind: "pass" });
  }

  /** Closes every connection abruptly (RST) and refuses new ones (the listener is closed) until another mode is set. */
  cut(): void {
    this.#mode = { kind: "cut" };
    this.#listener?.stop(true);
    this.#listener = null;
    this.reset();
  }

  /** Connections are accepted but no byte passes either way (held or discarded). */
  blackhole(opts: { policy?: BlockPolicy } = {}): void {
    this.#setMode({ kind: "blackhole", policy: opts.policy ?? "hold" });
  }

  /** Bytes in `direction` do not pass (held or discarded); the other direction flows. */
  oneWay(direction: Direction, opts: { policy?: BlockPolicy } = {}): void {
    this.#setMode({ kind: "oneWay", direction, policy: opts.policy ?? "hold" });
  }

  /** Adds latency to every chunk, both directions: delayMs + uniform [0, jitterMs]; order within a direction is kept. */
  delay(delayMs: number, jitterMs = 0, random?: Random): void {
    for (const [name, v] of [["delayMs", delayMs], ["jitterMs", jitterMs]] as const) {
      if (!Number.isFinite(v) || v < 0 || v > MAX_DELAY_MS) throw new RangeError(`${name} must be within 0..${MAX_DELAY_MS}`);
    }
    this.#delayMs = delayMs;
    this.#jitterMs = jitterMs;
    if (random) this.#random = random;
    if (this.#mode.kind === "cut") this.#setMode({ kind: "pass" });
  }

  /** Closes all current connections abruptly (RST both sides); the mode is unchanged, new connections are accepted. */
  reset(): void {
    for (const c of [...this.#conns]) this.#abort(c);
  }

  /** Stops listening and resets all connections. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener?.stop(true);
    this.#listener = null;
    this.reset();
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  #setMode(mode: FaultMode): void {
    if (this.#closed) throw new Error("fault proxy is closed");
    this.#mode = mode;
    if (this.#listener === null) this.#listen();
    for (const c of [...this.#conns]) {
      if ((c.up.corrupted && this.#gate("up") !== "discard") || (c.down.corrupted && this.#gate("down") !== "discard")) {
        this.#abort(c);
        continue;
      }
      this.#flush(c, c.up);
      this.#flush(c, c.down);
    }
  }

  #gate(dir: Direction): "flow" | BlockPolicy {
    const m = this.#mode;
    if (m.kind === "blackhole") return m.policy;
    if (m.kind === "oneWay" && m.direction === dir) return m.policy;
    return "flow";
  }

  #listen(): void {
    // Re-listening after cut() reuses our own port; a failure here means another process took it.
    this.#listener = Bun.listen<Conn | null>({
      hostname: "127.0.0.1",
      port: this.port,
      data: null,
      socket: {
        open: (client) => this.#onAccept(client),
        data: (client, bytes) => {
          if (client.data) this.#onData(client.data, client.data.up, bytes);
        },
        drain: (client) => {
          if (client.data) this.#flush(client.data, client.data.down);
        },
        close: (client) => {
          if (client.data) this.#onClose(client.data, "client");
        },
        error: (client) => {
          if (client.data) this.#onClose(client.data, "client");
        },
      },
    });
  }

  #onAccept(client: Sock): void {
    const conn = new Conn(client);
    client.data = conn;
    this.#conns.add(conn);
    this.#stats.accepted++;
    Bun.connect<Conn | null>({
      hostname: this.target.host,
      port: this.target.port,
      data: conn,
      socket: {
        open: (up) => {
          if (!this.#conns.has(conn)) {
            up.terminate(); // reset or cut while connecting
            return;
          }
          conn.upstream = up;
          this.#flush(conn, conn.up);
        },
        data: (_up, bytes) => this.#onData(conn, conn.down, bytes),
        drain: () => this.#flush(conn, conn.up),
        close: () => this.#onClose(conn, "upstream"),
        error: () => this.#onClose(conn, "upstream"),
        connectError: () => this.#onClose(conn, "upstream"),
      },
    }).catch(() => this.#onClose(conn, "upstream"));
  }

  #onData(conn: Conn, pipe: Pipe, bytes: Uint8Array): void {
    if (!this.#conns.has(conn)) return;
    if (this.#gate(pipe.dir) === "discard") {
      pipe.corrupted = true;
      if (pipe.dir === "up") this.#stats.droppedUp += bytes.length;
      else this.#stats.droppedDown += bytes.length;
      return;
    }
    const nowMs = performance.now();
    let atMs = 0;
    if (this.#delayMs > 0 || this.#jitterMs > 0) {
      const jitter = this.#jitterMs > 0 ? this.#random.next() * this.#jitterMs : 0;
      atMs = Math.max(pipe.lastAtMs, nowMs + this.#delayMs + jitter); // never overtake an earlier chunk
      pipe.lastAtMs = atMs;
    }
    pipe.queue.push({ bytes: bytes.slice(), atMs }); // copy: the runtime may reuse the read buffer
    pipe.queuedBytes += bytes.length;
    this.#flush(conn, pipe);
  }

  #flush(conn: Conn, pipe: Pipe): void {
    const source = conn.source(pipe);
    const gate = this.#gate(pipe.dir);
    if (pipe.queuedBytes > this.#maxQueuedBytes && source && !pipe.pausedSource) {
      // Stop reading: the kernel buffers fill and the sender's TCP window closes, like a stalled link.
      source.pause();
      pipe.pausedSource = true;
    }
    if (gate === "hold") return; // held bytes stay queued (visible in stats) until the mode lets them pass
    const dest = conn.dest(pipe);
    if (dest === null) {
      if (pipe.dir === "up" && !conn.upstreamClosed) return; // upstream still connecting
      this.#dropQueue(pipe);
      return;
    }
    const nowMs = performance.now();
    while (pipe.queue.length > 0) {
      const head = pipe.queue[0]!;
      if (head.atMs > nowMs) {
        if (pipe.timer === undefined) {
          pipe.timer = setTimeout(() => {
            pipe.timer = undefined;
            this.#flush(conn, pipe);
          }, Math.ceil(head.atMs - nowMs));
        }
        break;
      }
      const written = dest.write(head.bytes);
      const n = Math.max(0, written);
      if (pipe.dir === "up") this.#stats.bytesUp += n;
      else this.#stats.bytesDown += n;
      pipe.queuedBytes -= n;
      if (n < head.bytes.length) {
        head.bytes = head.bytes.subarray(n); // the rest goes on the dest's drain event
        break;
      }
      pipe.queue.shift();
    }
    if (pipe.queue.length === 0 && pipe.pendingEnd) dest.end();
    if (pipe.pausedSource && source && pipe.queuedBytes <= this.#maxQueuedBytes / 2) {
      source.resume();
      pipe.pausedSource = false;
    }
  }

  #dropQueue(pipe: Pipe): void {
    pipe.queue = [];
    pipe.queuedBytes = 0;
    if (pipe.timer !== undefined) clearTimeout(pipe.timer);
    pipe.timer = undefined;
  }

  /** One side closed: the other side gets a FIN once what is queued toward it has been delivered. */
  #onClose(conn: Conn, side: "client" | "upstream"): void {
    if (side === "client") {
      if (conn.clientClosed) return;
      conn.clientClosed = true;
      this.#dropQueue(conn.down);
      conn.up.pendingEnd = true;
      this.#flush(conn, conn.up);
    } else {
      if (conn.upstreamClosed) return;
      conn.upstreamClosed = true;
      this.#dropQueue(conn.up);
      conn.down.pendingEnd = true;
      this.#flush(conn, conn.down);
    }
    if (conn.clientClosed && conn.upstreamClosed) this.#conns.delete(conn);
  }

  #abort(conn: Conn): void {
    if (!this.#conns.delete(conn)) return;
    this.#stats.resets++;
    this.#dropQueue(conn.up);
    this.#dropQueue(conn.down);
    conn.clientClosed = true;
    conn.upstreamClosed = true;
    conn.client.terminate();
    conn.upstream?.terminate();
  }
}
