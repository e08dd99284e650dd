// Real nats-server processes for tests: a single server or an N-server JetStream cluster on free loopback ports, with kill/restart and guaranteed cleanup.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "./ports.ts";
import { FaultProxy } from "./fault-proxy.ts";
import { seededRandom } from "../../src/runtime/random.ts";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");

const DEFAULT_START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const MONITOR_FETCH_TIMEOUT_MS = 1_000;
const MAX_KEPT_LINES = 200;
const MAX_LINE_CHARS = 2_048;
const MAX_SERVERS = 7;
const START_ATTEMPTS = 3;

export interface NatsClusterOptions {
  /** Number of servers, 1..7 (default 3). With 1 there is no cluster block (a plain single server). */
  servers?: number;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Parent directory for configs and stores (kept on stop). Default: a fresh temp dir, removed by stop(). */
  dir?: string;
  /** Deadline for the whole cluster to become ready (default 20 s). */
  startTimeoutMs?: number;
  /** Cluster name (default "haven"). */
  clusterName?: string;
  /** JetStream limits per server (defaults 256 MiB memory, 2 GiB file). */
  maxMemoryStoreBytes?: number;
  maxFileStoreBytes?: number;
  /** Extra nats-server config appended to every server's config file (e.g. "max_payload: 2MB"). */
  extraConfig?: string;
  /** Echo server output to stderr (also env NATS_ECHO=1). */
  echo?: boolean;
  /**
   * Route every server-to-server connection through its own FaultProxy (one per ordered pair), so a test can cut the
   * routes of one server (isolateRoutes) while it keeps serving its clients. Servers advertise an address nobody
   * listens on, so no route is learned by gossip around the proxies. Default false.
   */
  proxiedRoutes?: boolean;
}

export interface NatsServerHandle {
  /** server_name, "n1".."nN". */
  readonly name: string;
  /** Client URL, nats://127.0.0.1:<port>. */
  readonly url: string;
  readonly port: number;
  /** Cluster (route) port, or null for a single server. */
  readonly clusterPort: number | null;
  /** Monitoring base URL, http://127.0.0.1:<port> (/healthz, /jsz, /routez, /varz). */
  readonly monitorUrl: string;
  /** JetStream store directory (survives kill/stop/restart). */
  readonly storeDir: string;
  /** Pid of the current process (the last one after it exited). */
  readonly pid: number;
  alive(): boolean;
  /** Sends `signal` (default SIGKILL) and awaits exit; resolves the exit code (null if killed by a signal). */
  kill(signal?: NodeJS.Signals | number): Promise<number | null>;
  /** SIGSTOP, then waits until the kernel reports the process stopped (a signal is delivered asynchronously). */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): void;
  /** SIGTERM, SIGKILL after a grace period; awaits exit. The store is kept, so restart() works. */
  stop(): Promise<void>;
  /** Starts again on the same ports and store, then waits until healthy and routed to the other running servers. */
  restart(opts?: { timeoutMs?: number }): Promise<void>;
  /** The last lines of server output (for assertion messages). */
  output(): string;
}

export interface NatsCluster {
  /** Client URLs of all servers (pass all to connect() so clients fail over). */
  readonly urls: string[];
  /** The first server's URL (convenience for single-server tests). */
  readonly url: string;
  readonly servers: NatsServerHandle[];
  readonly dir: string;
  readonly clusterName: string;
  /** Waits until every running server is healthy (JetStream meta leader known) and fully routed. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Name of the JetStream meta leader as seen by a running server, or null if none is known. */
  metaLeader(): Promise<string | null>;
  /** The server currently leading the stream's raft group (R>1), or null if none is known. */
  streamLeader(stream: string): Promise<NatsServerHandle | null>;
  /**
   * proxiedRoutes only: cuts every route between server `name` and the others (both directions, connections reset and
   * refused), so it is cut off from the cluster while its clients stay connected to it. healRoutes() undoes it.
   */
  isolateRoutes(name: string): void;
  healRoutes(name: string): void;
  /** Stops every server and removes the temp dir (if this harness created it). Idempotent. */
  stop(): Promise<void>;
}

// ---- last-resort cleanup -------------------------------------------------------------------------------------

type Child = ReturnType<typeof Bun.spawn>;
const liveChildren = new Set<Child>();
const ownedDirs = new Set<string>();
let exitHooked = false;

/** Exit handlers cannot await: SIGKILL every child still running and remove owned temp dirs synchronously. */
function cleanupSync(): void {
  for (const child of liveChildren) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
  ownedDirs.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", cleanupSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      cleanupSync();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/**
 * `setpriv --pdeathsig KILL` makes the kernel SIGKILL the server if this test process dies without
 * running exit handlers (e.g. kill -9 of the runner). setpriv execs nats-server, so the pid is the server's.
 */
const PDEATHSIG: string[] = existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "KILL"] : [];

// ---- monitoring helpers --------------------------------------------------------------------------------------

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(MONITOR_FETCH_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text for error messages
  }
  return { status: res.status, body };
}

/** Polls `probe` until it returns null (ready) or the deadline passes; the last non-null result explains the failure. */
async function pollUntil(what: string, deadlineMs: number, probe: () => Promise<string | null>, abort?: () => string | null): Promise<void> {
  let backoffMs = 20;
  let last = "not probed";
  for (;;) {
    const aborted = abort?.();
    if (aborted !== null && aborted !== undefined) throw new Error(`${what}: ${aborted}`);
    try {
      const why = await probe();
      if (why === null) return;
      last = why;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() >= deadlineMs) throw new Error(`${what}: not ready before the deadline (last: ${last})`);
    await Bun.sleep(backoffMs); // a poll interval, not a wait for an assumed duration
    backoffMs = Math.min(backoffMs * 2, 200);
  }
}

// ---- one server ----------------------------------------------------------------------------------------------

interface ServerSpec {
  name: string;
  port: number;
  clusterPort: number | null;
  monitorPort: number;
  routes: number[];
}

class ServerProcess implements NatsServerHandle {
  readonly url: string;
  readonly monitorUrl: string;
  readonly storeDir: string;
  readonly configPath: string;
  pid = 0;
  private child: Child | undefined;
  private readonly lines: string[] = [];

  constructor(
    private readonly spec: ServerSpec,
    dir: string,
    private readonly cluster: ClusterImpl,
  ) {
    this.url = `nats://127.0.0.1:${spec.port}`;
    this.monitorUrl = `http://127.0.0.1:${spec.monitorPort}`;
    this.storeDir = join(dir, spec.name, "store");
    this.configPath = join(dir, spec.name, "nats.conf");
  }

  get name(): string {
    return this.spec.name;
  }
  get port(): number {
    return this.spec.port;
  }
  get clusterPort(): number | null {
    return this.spec.clusterPort;
  }

  writeConfig(o: Required<Pick<NatsClusterOptions, "jetstream" | "clusterName" | "maxMemoryStoreBytes" | "maxFileStoreBytes" | "proxiedRoutes">> & { extraConfig: string }): void {
    mkdirSync(this.storeDir, { recursive: true });
    const lines = [
      `server_name: ${this.spec.name}`,
      `listen: 127.0.0.1:${this.spec.port}`,
      `http: 127.0.0.1:${this.spec.monitorPort}`,
    ];
    if (o.jetstream) {
      lines.push(`jetstream { store_dir: ${JSON.stringify(this.storeDir)}, max_memory_store: ${o.maxMemoryStoreBytes}, max_file_store: ${o.maxFileStoreBytes} }`);
    }
    if (this.spec.clusterPort !== null) {
      const routes = this.spec.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
      // Proxied: advertise a port nothing listens on (1), so peers learn no direct route by gossip and every route
      // stays on its configured proxy.
      const advertise = o.proxiedRoutes ? ", advertise: 127.0.0.1:1" : "";
      lines.push(`cluster { name: ${o.clusterName}, listen: 127.0.0.1:${this.spec.clusterPort}${advertise}, routes: [${routes}] }`);
    }
    if (o.extraConfig) lines.push(o.extraConfig);
    writeFileSync(this.configPath, lines.join("\n") + "\n");
  }

  alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.lines.join("\n");
  }

  /** Spawns the process (does not wait for readiness). */
  spawn(echo: boolean): void {
    if (this.alive()) throw new Error(`nats-server ${this.name} is already running`);
    hookExit();
    const child = Bun.spawn([...PDEATHSIG, NATS_SERVER_BIN, "-c", this.configPath], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.child = child;
    this.pid = child.pid;
    liveChildren.add(child);
    void child.exited.then(() => liveChildren.delete(child));
    void this.drain(child.stdout as ReadableStream<Uint8Array>, echo);
    void this.drain(child.stderr as ReadableStream<Uint8Array>, echo);
  }

  private async drain(stream: ReadableStream<Uint8Array>, echo: boolean): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    const push = (line: string) => {
      const clipped = line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) + "..." : line;
      this.lines.push(`[${this.name}] ${clipped}`);
      if (this.lines.length > MAX_KEPT_LINES) this.lines.splice(0, this.lines.length - MAX_KEPT_LINES);
      if (echo) process.stderr.write(`[nats ${this.name}] ${clipped}\n`);
    };
    try {
      for await (const chunk of stream) {
        partial += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = partial.indexOf("\n")) >= 0) {
          push(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
        if (partial.length > 16 * MAX_LINE_CHARS) partial = partial.slice(-MAX_LINE_CHARS);
      }
    } catch {
      // stream torn down with the process
    }
    if (partial.length > 0) push(partial);
  }

  /** Why this process is not usable (exited), or null while it runs. */
  exitReason(): string | null {
    const c = this.child;
    if (c === undefined) return "not started";
    if (c.exitCode !== null || c.signalCode !== null) {
      return `nats-server ${this.name} exited (code ${c.exitCode}, signal ${c.signalCode})\n${this.output()}`;
    }
    return null;
  }

  /** Null when healthy (JetStream meta leader known, when enabled) and routed to `expectedRoutes` peers. */
  async probe(expectedRoutes: number): Promise<string | null> {
    const health = await getJson(`${this.monitorUrl}/healthz`);
    if (health.status !== 200) return `${this.name} /healthz ${health.status} ${JSON.stringify(health.body)}`;
    if (expectedRoutes > 0) {
      const routez = await getJson(`${this.monitorUrl}/routez`);
      const n = (routez.body as { num_routes?: number }).num_routes ?? 0;
      if (n < expectedRoutes) return `${this.name} has ${n}/${expectedRoutes} routes`;
    }
    return null;
  }

  async pause(): Promise<void> {
    const pid = this.pid;
    process.kill(pid, "SIGSTOP");
    const deadline = Date.now() + STOP_GRACE_MS;
    // /proc/<pid>/stat field 3 is the state: T (stopped) once every thread has stopped.
    while (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "T") {
      if (Date.now() > deadline) throw new Error(`nats-server ${this.spec.name} did not stop on SIGSTOP`);
      await Bun.sleep(1);
    }
  }

  resume(): void {
    process.kill(this.pid, "SIGCONT");
  }

  async kill(signal: NodeJS.Signals | number = "SIGKILL"): Promise<number | null> {
    const child = this.child;
    if (child === undefined) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await child.exited;
    return child.exitCode;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    try {
      await child.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.cluster.stopped) throw new Error("restart() after the cluster was stopped");
    if (this.alive()) await this.stop();
    this.spawn(this.cluster.echo);
    await this.waitReady(Date.now() + (opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS));
  }

  async waitReady(deadlineMs: number): Promise<void> {
    const routes = this.spec.clusterPort === null ? 0 : this.cluster.servers.filter((s) => s !== this && s.alive()).length;
    await pollUntil(`nats-server ${this.name}`, deadlineMs, () => this.probe(routes), () => this.exitReason());
  }
}

// ---- the cluster ---------------------------------------------------------------------------------------------

class ClusterImpl implements NatsCluster {
  servers: ServerProcess[] = [];
  stopped = false;
  /** proxiedRoutes: routeProxies[i][j] carries server i's route to server j (null on the diagonal). */
  routeProxies: (FaultProxy | null)[][] = [];

  constructor(
    readonly dir: string,
    readonly clusterName: string,
    readonly echo: boolean,
    private readonly ownsDir: boolean,
  ) {}

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }
  get url(): string {
    const first = this.servers[0];
    if (first === undefined) throw new Error("cluster has no servers");
    return first.url;
  }

  async waitReady(timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    await Promise.all(this.servers.filter((s) => s.alive()).map((s) => s.waitReady(deadlineMs)));
  }

  private running(): ServerProcess[] {
    return this.servers.filter((s) => s.alive());
  }

  async metaLeader(): Promise<string | null> {
    for (const s of this.running()) {
      try {
        const { body } = await getJson(`${s.monitorUrl}/jsz`);
        const leader = (body as { meta_cluster?: { leader?: string } }).meta_cluster?.leader;
        if (leader) return leader;
      } catch {
        // try the next server
      }
    }
    return null;
  }

  async streamLeader(stream: string): Promise<NatsServerHandle | null> {
    type Jsz = { account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] };
    for (const s of this.running()) {
      try {
        const { body } = await getJson(`${s.monitorUrl}/jsz?accounts=true&streams=true`);
        for (const acc of (body as Jsz).account_details ?? []) {
          for (const sd of acc.stream_detail ?? []) {
            const leader = sd.name === stream ? sd.cluster?.leader : undefined;
            if (leader) return this.servers.find((x) => x.name === leader) ?? null;
          }
        }
      } catch {
        // try the next server
      }
    }
    return null;
  }

  isolateRoutes(name: string): void {
    for (const p of this.#routesOf(name)) p.cut();
  }

  healRoutes(name: string): void {
    for (const p of this.#routesOf(name)) p.pass();
  }

  #routesOf(name: string): FaultProxy[] {
    const i = this.servers.findIndex((s) => s.name === name);
    if (i < 0) throw new RangeError(`no server ${name}`);
    if (this.routeProxies.length === 0) throw new Error("routes are not proxied: start the cluster with proxiedRoutes");
    const out: FaultProxy[] = [];
    for (let j = 0; j < this.servers.length; j++) {
      if (j === i) continue;
      out.push(this.routeProxies[i]![j]!, this.routeProxies[j]![i]!);
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.servers.map((s) => s.stop()));
    for (const row of this.routeProxies) for (const p of row) p?.close();
    if (this.ownsDir) {
      rmSync(this.dir, { recursive: true, force: true });
      ownedDirs.delete(this.dir);
    }
  }
}

function layout(count: number, clustered: boolean): ServerSpec[] {
  const ports = freePorts(count * 3);
  const specs: ServerSpec[] = [];
  for (let i = 0; i < count; i++) {
    specs.push({
      name: `n${i + 1}`,
      port: ports[i * 3]!,
      clusterPort: clustered ? ports[i * 3 + 1]! : null,
      monitorPort: ports[i * 3 + 2]!,
      routes: [],
    });
  }
  if (clustered) for (const s of specs) s.routes = specs.filter((o) => o !== s).map((o) => o.clusterPort!);
  return specs;
}

function checkBytes(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1 << 20) throw new RangeError(`${name} must be an integer >= 1 MiB, got ${v}`);
  return v;
}

/** Starts `servers` nats-server processes (a routed cluster when > 1) and waits until all are ready. */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = opts.servers ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SERVERS) throw new RangeError(`servers must be 1..${MAX_SERVERS}, got ${count}`);
  const cfg = {
    jetstream: opts.jetstream ?? true,
    clusterName: opts.clusterName ?? "haven",
    maxMemoryStoreBytes: checkBytes("maxMemoryStoreBytes", opts.maxMemoryStoreBytes ?? 256 * 2 ** 20),
    maxFileStoreBytes: checkBytes("maxFileStoreBytes", opts.maxFileStoreBytes ?? 2 * 2 ** 30),
    extraConfig: opts.extraConfig ?? "",
    proxiedRoutes: opts.proxiedRoutes ?? false,
  };
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(cfg.clusterName)) throw new RangeError("clusterName must match [A-Za-z0-9_-]{1,32}");
  const echo = opts.echo ?? process.env.NATS_ECHO === "1";
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadlineMs = Date.now() + timeoutMs;

  // Another process may grab a probed port before nats-server binds it: retry with fresh ports.
  for (let attempt = 1; ; attempt++) {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "haven-nats-"));
    if (ownsDir) {
      hookExit();
      ownedDirs.add(dir);
    }
    const cluster = new ClusterImpl(dir, cfg.clusterName, echo, ownsDir);
    const specs = layout(count, count > 1);
    if (cfg.proxiedRoutes && count > 1) {
      cluster.routeProxies = specs.map((_from, i) =>
        specs.map((to, j) => (i === j ? null : FaultProxy.start({ target: { port: to.clusterPort! }, random: seededRandom(i * count + j + 1) }))),
      );
      for (const [i, spec] of specs.entries()) spec.routes = cluster.routeProxies[i]!.filter((p) => p !== null).map((p) => p.port);
    }
    cluster.servers = specs.map((spec) => new ServerProcess(spec, dir, cluster));
    for (const s of cluster.servers) s.writeConfig(cfg);
    try {
      for (const s of cluster.servers) s.spawn(echo);
      await cluster.waitReady(Math.max(0, deadlineMs - Date.now()));
      return cluster;
    } catch (e) {
      const output = cluster.servers.map((s) => s.output()).join("\n");
      await cluster.stop();
      if (attempt < START_ATTEMPTS && /address already in use/i.test(output) && Date.now() < deadlineMs) continue;
      throw new Error(`${(e as Error).message}\n--- nats-server output ---\n${output.slice(-8000)}`);
    }
  }
}

/** A single nats-server (JetStream on by default): `.url`, `.servers[0]` for kill/restart, `.stop()`. */
export function startNatsServer(opts: Omit<NatsClusterOptions, "servers"> = {}): Promise<NatsCluster> {
  return startNatsCluster({ ...opts, servers: 1 });
}
