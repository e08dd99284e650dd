// Shared fixtures for transport tests: a config, a capturing logger, a scriptable fake core, an app on port 0.
import { createConnection } from "node:net";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createLogger, type Logger } from "../../src/observability/index.ts";
import { systemClock, type Clock } from "../../src/runtime/index.ts";
import type { InboundContext, MessageReceiver, ReceiveOutcome } from "../../src/transport/contract.ts";
import { createHealth, type HealthCheck } from "../../src/transport/health.ts";
import { createHttpApp, type HttpApp, type HttpAppOptions } from "../../src/transport/http-app.ts";
import { makeInvitationInfo, type InvitationInfo } from "../../src/transport/invitation.ts";

export const TEST_DID = "did:peer:2.Ez6LSexample.Vz6MkExample";

export function testConfig(env: Record<string, string> = {}): Pick<Config, "server" | "limits"> {
  const c = loadConfig({ PUBLIC_URL: "http://127.0.0.1:9999", ...env });
  return { server: c.server, limits: c.limits };
}

export function captureLogger(level: "debug" | "info" | "warn" = "debug"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level, destination: { write: (s: string) => void lines.push(s) } }), lines };
}

export interface Call {
  bytes: Uint8Array;
  inbound: InboundContext;
}

/** Records calls; answers with `respond` (default: accepted, no replies). */
export class FakeCore implements MessageReceiver {
  readonly calls: Call[] = [];
  respond: (call: Call) => ReceiveOutcome | Promise<ReceiveOutcome> = () => ({ kind: "accepted", replies: [] });

  receive(bytes: Uint8Array, inbound: InboundContext): Promise<ReceiveOutcome> {
    const call = { bytes: new Uint8Array(bytes), inbound };
    this.calls.push(call);
    return Promise.resolve().then(() => this.respond(call));
  }
}

export interface Started {
  app: HttpApp;
  core: FakeCore;
  base: string;
  wsUrl: string;
  invitation: InvitationInfo;
  lines: string[];
  close(): Promise<void>;
}

export function startApp(opts: {
  env?: Record<string, string>;
  checks?: HealthCheck[];
  clock?: Clock;
  options?: HttpAppOptions;
  did?: string;
  attach?: boolean;
} = {}): Started {
  const core = new FakeCore();
  const { logger, lines } = captureLogger();
  const invitation = makeInvitationInfo({ did: opts.did ?? TEST_DID, publicUrl: "http://127.0.0.1:9999" });
  const health = createHealth(opts.checks ?? [], { clock: opts.clock ?? systemClock });
  const app = createHttpApp({
    ...(opts.attach === false ? {} : { core, invitation }),
    health,
    config: testConfig(opts.env),
    logger,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.options ? { options: opts.options } : {}),
  });
  const { port } = app.listen({ hostname: "127.0.0.1", port: 0 });
  let closed = false;
  return {
    app,
    core,
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    invitation,
    lines,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close({ drainTimeoutMs: 2000 });
    },
  };
}

/** Sends raw HTTP/1.1 requests one after another over ONE TCP connection; returns the status codes. */
export async function statusesOnOneConnection(base: string, requests: string[]): Promise<{ status: number; head: string }[]> {
  const url = new URL(base);
  const socket = createConnection({ host: url.hostname, port: Number(url.port) });
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let buffer = "";
  const waiters: (() => void)[] = [];
  socket.on("data", (chunk) => {
    buffer += chunk.toString("latin1");
    for (const w of waiters.splice(0)) w();
  });
  const out: { status: number; head: string }[] = [];
  try {
    for (const req of requests) {
      socket.write(req);
      // One full response: headers plus content-length bytes of body.
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end >= 0) {
          const head = buffer.slice(0, end);
          const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
          if (buffer.length >= end + 4 + len) {
            out.push({ status: Number(head.slice(9, 12)), head });
            buffer = buffer.slice(end + 4 + len);
            break;
          }
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    }
  } finally {
    socket.destroy();
  }
  return out;
}

export function rawPost(body: string, contentType = "application/didcomm-encrypted+json"): string {
  return `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
