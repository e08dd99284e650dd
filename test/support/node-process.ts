// Runs a real Haven node (`bun run src/main.ts`) as a child process for end-to-end tests: start, await readiness, kill, restart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LAUNCH_ENV } from "../../src/runtime/launch-env.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");
const DEFAULT_START_TIMEOUT_MS = 20_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
/** Lines of child output kept for failure messages; the rest is drained and dropped so the pipe never blocks. */
const MAX_KEPT_LINES = 200;
const MAX_LINE_CHARS = 4_096;
/** Never taken from this process's environment; honoured when given in `env` (cluster tests pass all three). */
const INHERIT_NEVER = ["NATS_URL", "MEDIATOR_KEYS_FILE", "PUBLIC_URL"] as const;

export interface NodeProcessOptions {
  /**
   * Extra environment (e.g. MAX_MESSAGE_BYTES, or NATS_URL + MEDIATOR_KEYS_FILE + PUBLIC_URL for a cluster node): it
   * overrides the defaults (PUBLIC_URL = this node's own URL; NATS_URL and MEDIATOR_KEYS_FILE unset). PORT, HOST and
   * DATA_DIR are always set here.
   */
  env?: Record<string, string>;
  /** Reuse a data directory (restart after a crash); default: a fresh temp dir removed by stop(). */
  dataDir?: string;
  /** Default "warn": the readiness lines are printed regardless of the log level. */
  logLevel?: string;
  startTimeoutMs?: number;
  /** Echo the child's output to this process's stderr (debugging). */
  echo?: boolean;
  /** Entry script (default src/main.ts, or env HAVEN_E2E_ENTRY). */
  entry?: string;
}

export interface NodeProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  readonly wsUrl: string;
  readonly did: string;
  readonly invitationUrl: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Sends `signal` and waits for the process to exit; resolves with its exit code (null when killed by a signal). */
  kill(signal?: NodeJS.Signals | number): Promise<number | null>;
  /** SIGTERM, then SIGKILL after a bound; removes the temp data dir unless it was given. Idempotent. */
  stop(): Promise<void>;
  /** Starts a new process on the same port and data directory (after kill or stop) and awaits readiness. */
  restart(): Promise<void>;
  /** The last lines of child output (for assertion messages). */
  output(): string;
  /** True while the current child process has not exited. */
  alive(): boolean;
}

/** A free loopback TCP port, found by binding port 0 and releasing it (Haven's PORT must be 1..65535). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

interface Ready {
  did: string;
  invitationUrl: string;
}

const DID_RE = /did:peer:2\.[A-Za-z0-9._~%:=-]+/;
const OOB_RE = /https?:\/\/[^\s"'<>]*[?&]_oob=[A-Za-z0-9_=-]+/;

/** Reads a child stream line by line, keeping the tail; calls onLine for every line until the stream ends. */
async function drainLines(stream: ReadableStream<Uint8Array>, keep: string[], onLine: (line: string) => void, echo: boolean) {
  const decoder = new TextDecoder();
  let partial = "";
  const push = (line: string) => {
    const clipped = line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) + "..." : line;
    keep.push(clipped);
    if (keep.length > MAX_KEPT_LINES) keep.splice(0, keep.length - MAX_KEPT_LINES);
    if (echo) process.stderr.write(`[node] ${clipped}\n`);
    onLine(clipped);
  };
  for await (const chunk of stream) {
    partial += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
    if (partial.length > 64 * MAX_LINE_CHARS) partial = partial.slice(-MAX_LINE_CHARS); // a runaway line without newline
  }
  if (partial.length > 0) push(partial);
}

async function waitReady(url: string, deadlineMs: number, exited: Promise<unknown>): Promise<void> {
  let backoffMs = 10;
  let last = "no answer";
  while (Date.now() < deadlineMs) {
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(Math.max(100, deadlineMs - Date.now())) });
      last = `${res.status} ${(await res.text()).slice(0, 500)}`;
      if (res.status === 200) return;
    } catch (e) {
      last = String(e);
    }
    // Listening but not yet ready (or a transient refusal): back off briefly, but stop waiting if the child died.
    const dead = await Promise.race([exited.then(() => true), Bun.sleep(backoffMs).then(() => false)]);
    if (dead) throw new Error(`node exited while waiting for /health/ready (${last})`);
    backoffMs = Math.min(backoffMs * 2, 200);
  }
  throw new Error(`/health/ready did not turn 200 in time (last: ${last})`);
}

class ChildNode implements NodeProcess {
  url: string;
  wsUrl: string;
  did = "";
  invitationUrl = "";
  pid = 0;
  readonly dataDir: string;
  private child: ReturnType<typeof Bun.spawn> | undefined;
  private readonly lines: string[] = [];
  private stopped = false;

  constructor(
    private readonly port: number,
    private readonly opts: NodeProcessOptions,
    private readonly ownsDataDir: boolean,
    dataDir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}/ws`;
    this.dataDir = dataDir;
  }

  output(): string {
    return this.lines.join("\n");
  }

  alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && !this.child.killed) throw new Error("node process already running");
    const timeoutMs = this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadlineMs = Date.now() + timeoutMs;
    // Inherited NATS_URL / MEDIATOR_KEYS_FILE / PUBLIC_URL (a developer's shell) must not leak into a test node: it
    // runs as an embedded single node with its own identity and URL unless the caller passes them explicitly.
    const inherited: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const name of INHERIT_NEVER) delete inherited[name];
    const env: Record<string, string> = {
      ...LAUNCH_ENV,
      ...inherited,
      LOG_LEVEL: this.opts.logLevel ?? "warn",
      PUBLIC_URL: this.url,
      ...this.opts.env,
      PORT: String(this.port),
      HOST: "127.0.0.1",
      DATA_DIR: this.dataDir,
    };
    const profile = process.env.HAVEN_NODE_CPU_PROF ? ["--cpu-prof-md", `--cpu-prof-dir=${process.env.HAVEN_NODE_CPU_PROF}`] : [];
    const child = Bun.spawn(["bun", ...profile, "run", this.opts.entry ?? process.env.HAVEN_E2E_ENTRY ?? "src/main.ts"], { cwd: REPO_ROOT, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.child = child;
    this.pid = child.pid;
    const echo = this.opts.echo ?? process.env.E2E_ECHO === "1";
    const seen: Partial<Ready> = {};
    const { promise: printed, resolve: onPrinted } = Promise.withResolvers<Ready>();
    const onLine = (line: string) => {
      seen.did ??= DID_RE.exec(line)?.[0];
      seen.invitationUrl ??= OOB_RE.exec(line)?.[0];
      if (seen.did !== undefined && seen.invitationUrl !== undefined) onPrinted(seen as Ready);
    };
    void drainLines(child.stdout as ReadableStream<Uint8Array>, this.lines, onLine, echo);
    void drainLines(child.stderr as ReadableStream<Uint8Array>, this.lines, onLine, echo);

    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`node did not become ready within ${timeoutMs} ms`)), timeoutMs);
    });
    const died = child.exited.then((code) => {
      throw new Error(`node exited with code ${code} before it was ready`);
    });
    try {
      const ready = await Promise.race([printed, died, timeout]);
      this.did = ready.did;
      this.invitationUrl = ready.invitationUrl;
      await Promise.race([waitReady(this.url, deadlineMs, child.exited), died, timeout]);
    } catch (e) {
      child.kill("SIGKILL");
      await child.exited;
      throw new Error(`${(e as Error).message}\n--- node output ---\n${this.output()}`);
    } finally {
      clearTimeout(timer);
      died.catch(() => {}); // the race is over; a later exit must not be an unhandled rejection
    }
  }

  async kill(signal: NodeJS.Signals | number = "SIGKILL"): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await child.exited;
    return child.exitCode;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      let timer: Timer | undefined;
      const bounded = new Promise<void>((res) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          res();
        }, DEFAULT_STOP_TIMEOUT_MS);
      });
      await Promise.race([child.exited.then(() => {}), bounded]);
      clearTimeout(timer);
      await child.exited;
    }
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    if (this.stopped && this.ownsDataDir) throw new Error("restart after stop(): the temp data dir is gone");
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) await this.kill("SIGTERM");
    this.stopped = false;
    await this.start();
  }
}

/** Starts a node on a free loopback port with its own data directory and waits until it is ready. */
export async function startNodeProcess(opts: NodeProcessOptions = {}): Promise<NodeProcess> {
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "haven-e2e-"));
  // The port could be taken between freePort() and the child's bind; one retry on a fresh port covers that race.
  for (let attempt = 1; ; attempt++) {
    const node = new ChildNode(freePort(), opts, ownsDataDir, dataDir);
    try {
      await node.start();
      return node;
    } catch (e) {
      if (attempt >= 2 || !/EADDRINUSE|address in use/i.test(String(e))) {
        if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
        throw e;
      }
    }
  }
}
