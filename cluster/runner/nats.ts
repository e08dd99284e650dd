// The local 3-server NATS JetStream cluster for cluster:up/down: install check, config rendering, detached start, health wait, stop.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchJson, info, pollUntil, portFree } from "./progress.ts";
import { REPO_ROOT, markSpawned, pidAlive, saveState, signalIfAlive, type ClusterState, type NatsServerState } from "./state.ts";

export const NATS_SERVERS = 3;
const TEMPLATE = join(REPO_ROOT, "cluster/nats/server.conf.tmpl");
const PID_MARKER = "nats-server";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** Path of nats-server: env NATS_SERVER_BIN, /usr/sbin/nats-server, or PATH; installs the Debian package if missing. */
export async function ensureNatsServerBinary(): Promise<string> {
  const found = findNatsServer();
  if (found) return found;
  info("nats-server not found: installing the Debian package 'nats-server' with apt-get (needs root or passwordless sudo)...");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const run = (args: string[]) =>
    Bun.spawnSync([...sudo, ...args], { stdout: "inherit", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).exitCode === 0;
  // A fresh machine may have no package lists yet: update only if the first attempt fails.
  if (!run(["apt-get", "install", "-y", "nats-server"])) {
    run(["apt-get", "update"]);
    run(["apt-get", "install", "-y", "nats-server"]);
  }
  const after = findNatsServer();
  if (!after) {
    throw new Error("could not install nats-server. Install it yourself (Debian/Ubuntu: `sudo apt-get install nats-server`, or a release from https://github.com/nats-io/nats-server/releases) and set NATS_SERVER_BIN if it is not on PATH.");
  }
  return after;
}

function findNatsServer(): string | null {
  const env = process.env.NATS_SERVER_BIN;
  if (env) return existsSync(env) ? env : null;
  if (existsSync("/usr/sbin/nats-server")) return "/usr/sbin/nats-server";
  return Bun.which("nats-server");
}

/** Fixed, predictable ports for development: clients natsPort.., routes natsPort+2000.., monitoring natsPort+4000... */
export function planNats(state: ClusterState, natsPort: number): NatsServerState[] {
  const servers: NatsServerState[] = [];
  for (let i = 0; i < NATS_SERVERS; i++) {
    const name = `nats-${i + 1}`;
    const prev = state.nats.find((s) => s.name === name);
    servers.push(
      prev ?? {
        name,
        port: natsPort + i,
        clusterPort: natsPort + 2000 + i,
        monitorPort: natsPort + 4000 + i,
        pid: null,
        configPath: join(state.dir, "nats", `${name}.conf`),
        storeDir: join(state.dir, "nats", name),
        logPath: join(state.dir, "logs", `${name}.log`),
      },
    );
  }
  return servers;
}

function renderConfig(s: NatsServerState, all: NatsServerState[], clusterName: string): string {
  const routes = all.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`).join(", ");
  const values: Record<string, string> = {
    NAME: s.name,
    PORT: String(s.port),
    MONITOR_PORT: String(s.monitorPort),
    CLUSTER_NAME: clusterName,
    CLUSTER_PORT: String(s.clusterPort),
    ROUTES: routes,
    STORE_DIR: s.storeDir,
  };
  return readFileSync(TEMPLATE, "utf8").replace(/\{\{([A-Z_]+)\}\}/g, (_m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`unknown placeholder {{${k}}} in ${TEMPLATE}`);
    return v;
  });
}

export function natsUrls(state: ClusterState): string {
  return state.nats.map((s) => `nats://127.0.0.1:${s.port}`).join(",");
}

export function natsRunning(s: NatsServerState): boolean {
  return pidAlive(s.pid, PID_MARKER);
}

/** Starts the servers that are not running (detached, logging to .cluster/logs) and waits until all are healthy. */
export async function natsUp(state: ClusterState, natsPort: number): Promise<void> {
  const bin = await ensureNatsServerBinary();
  state.nats = planNats(state, natsPort);
  mkdirSync(join(state.dir, "logs"), { recursive: true });
  const started: string[] = [];
  for (const s of state.nats) {
    if (natsRunning(s)) continue;
    for (const p of [s.port, s.clusterPort, s.monitorPort]) {
      if (!portFree(p)) throw new Error(`port ${p} for ${s.name} is in use by another process (choose another base with --nats-port)`);
    }
    mkdirSync(s.storeDir, { recursive: true });
    mkdirSync(join(state.dir, "nats"), { recursive: true });
    writeFileSync(s.configPath, renderConfig(s, state.nats, state.clusterName));
    const log = openSync(s.logPath, "a");
    try {
      const child = Bun.spawn([bin, "-c", s.configPath], { detached: true, stdin: "ignore", stdout: log, stderr: log });
      child.unref();
      s.pid = child.pid;
      markSpawned(child.pid);
    } finally {
      closeSync(log);
    }
    started.push(s.name);
    saveState(state);
  }
  info(started.length > 0 ? `NATS: started ${started.join(", ")}` : "NATS: all 3 servers already running");
  const health = new Map<string, string>();
  const ok = await pollUntil(
    START_TIMEOUT_MS,
    async () => {
      let all = true;
      for (const s of state.nats) {
        const h = await fetchJson(`http://127.0.0.1:${s.monitorPort}/healthz`);
        const routes = await fetchJson(`http://127.0.0.1:${s.monitorPort}/routez`);
        const nRoutes = (routes?.body as { num_routes?: number } | undefined)?.num_routes ?? 0;
        const healthy = h?.status === 200 && nRoutes >= NATS_SERVERS - 1;
        health.set(s.name, !natsRunning(s) ? "exited" : healthy ? "ready" : h === null ? "starting" : `routes ${nRoutes}/${NATS_SERVERS - 1}, ${h.status}`);
        all &&= healthy;
      }
      return all;
    },
    () => `waiting for NATS JetStream: ${state.nats.map((s) => `${s.name} ${health.get(s.name) ?? "starting"}`).join(", ")}`,
  );
  if (!ok) throw new Error(`NATS cluster not healthy within ${START_TIMEOUT_MS / 1000}s; see ${join(state.dir, "logs")}`);
  info("NATS: JetStream cluster ready (meta leader elected, all routes up)");
}

/** SIGTERM every server, wait (bounded), SIGKILL stragglers. */
export async function natsDown(state: ClusterState): Promise<void> {
  for (const s of state.nats) signalIfAlive(s.pid, PID_MARKER, "SIGTERM");
  const ok = await pollUntil(STOP_TIMEOUT_MS, async () => state.nats.every((s) => !natsRunning(s)), () => `stopping NATS: ${state.nats.filter(natsRunning).map((s) => s.name).join(", ") || "done"}`);
  if (!ok) for (const s of state.nats) signalIfAlive(s.pid, PID_MARKER, "SIGKILL");
  for (const s of state.nats) s.pid = null;
  saveState(state);
}
