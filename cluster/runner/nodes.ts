// Haven node processes for cluster:up/down: start detached with per-node env, wait for /health/ready, drain-and-stop on removal.
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { natsUrls } from "./nats.ts";
import { fetchJson, info, pollUntil, portFree } from "./progress.ts";
import { REPO_ROOT, markSpawned, pidAlive, saveState, signalIfAlive, type ClusterState, type HavenNodeState } from "./state.ts";
import { LAUNCH_ENV } from "../../src/runtime/launch-env.ts";

export const MAX_NODES = 32;
const PID_MARKER = "src/main.ts";
const READY_TIMEOUT_MS = 60_000;
/** A removed node drains (hands over mailboxes, flushes its outbox) before exiting: give it time. */
const DRAIN_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/** The PUBLIC_URL every node gets; set by cluster.ts before nodes are planned. */
export function sharedPublicUrl(state: ClusterState): string {
  if (state.publicUrl === undefined) throw new Error("invariant: the cluster's public URL is decided before nodes start");
  return state.publicUrl;
}

export function nodeRunning(n: HavenNodeState): boolean {
  return pidAlive(n.pid, PID_MARKER);
}

function planNode(state: ClusterState, index: number, basePort: number): HavenNodeState {
  const prev = state.nodes.find((n) => n.index === index);
  if (prev) return prev;
  const id = `haven-${index}`;
  const port = basePort + index - 1;
  return { id, index, port, url: `http://127.0.0.1:${port}`, pid: null, dataDir: join(state.dir, "nodes", id), logPath: join(state.dir, "logs", `${id}.log`) };
}

function spawnNode(state: ClusterState, n: HavenNodeState): void {
  if (!portFree(n.port)) throw new Error(`port ${n.port} for ${n.id} is in use by another process (choose another --base-port)`);
  mkdirSync(n.dataDir, { recursive: true });
  mkdirSync(join(state.dir, "logs"), { recursive: true });
  const env: Record<string, string> = { ...LAUNCH_ENV, ...(process.env as Record<string, string>) };
  Object.assign(env, {
    NATS_URL: natsUrls(state),
    NODE_ID: n.id,
    PORT: String(n.port),
    HOST: "127.0.0.1",
    // One PUBLIC_URL for all nodes: the DID embeds it, and all nodes must present the same DID.
    PUBLIC_URL: sharedPublicUrl(state),
    DATA_DIR: n.dataDir,
    MEDIATOR_KEYS_FILE: state.keysFile,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
  });
  const log = openSync(n.logPath, "a");
  try {
    const child = Bun.spawn([process.execPath, "run", "src/main.ts"], { cwd: REPO_ROOT, env, detached: true, stdin: "ignore", stdout: log, stderr: log });
    child.unref();
    n.pid = child.pid;
    markSpawned(child.pid);
  } finally {
    closeSync(log);
  }
}

/** Waits until every listed node answers 200 on /health/ready, showing each node's state. */
async function waitReady(nodes: HavenNodeState[]): Promise<void> {
  const status = new Map<string, string>();
  const ok = await pollUntil(
    READY_TIMEOUT_MS,
    async () => {
      const results = await Promise.all(nodes.map((n) => fetchJson(`${n.url}/health/ready`)));
      let all = true;
      nodes.forEach((n, i) => {
        const r = results[i];
        const ready = r?.status === 200;
        status.set(n.id, !nodeRunning(n) ? "EXITED" : ready ? "ready" : r ? `not ready (${failingChecks(r.body)})` : "starting");
        all &&= ready;
      });
      if (nodes.some((n) => !nodeRunning(n))) return true; // stop waiting; reported below
      return all;
    },
    () => `waiting for Haven nodes: ${nodes.map((n) => `${n.id} ${status.get(n.id) ?? "starting"}`).join(", ")}`,
  );
  const dead = nodes.filter((n) => !nodeRunning(n));
  if (dead.length > 0) throw new Error(`node(s) exited during start: ${dead.map((n) => `${n.id} (see ${n.logPath})`).join(", ")}`);
  if (!ok) throw new Error(`nodes not ready within ${READY_TIMEOUT_MS / 1000}s: see logs in ${join(nodes[0]?.logPath ?? "", "..")}`);
}

function failingChecks(body: unknown): string {
  const checks = (body as { checks?: { name?: string; status?: string }[] } | null)?.checks;
  if (!Array.isArray(checks)) return "?";
  const failing = checks.filter((c) => c.status !== "pass").map((c) => c.name ?? "?");
  return failing.join("+") || "?";
}

/** Brings the node set to exactly haven-1..haven-N: starts missing or crashed ones, drains and stops the surplus. */
export async function nodesUp(state: ClusterState, count: number, basePort: number): Promise<void> {
  // Remove the surplus first, highest index first and one at a time, so each drain hands over to a stable set.
  const surplus = state.nodes.filter((n) => n.index > count).sort((a, b) => b.index - a.index);
  for (const n of surplus) {
    await drainAndStop(n, DRAIN_TIMEOUT_MS);
    state.nodes = state.nodes.filter((x) => x !== n);
    saveState(state);
    info(`${n.id}: drained and stopped (data kept in ${n.dataDir})`);
  }

  const wanted: HavenNodeState[] = [];
  for (let i = 1; i <= count; i++) wanted.push(planNode(state, i, basePort));
  state.nodes = wanted;
  const toStart = wanted.filter((n) => !nodeRunning(n));
  if (toStart.length === 0) {
    info(`Haven: all ${count} node(s) already running`);
  } else {
    // All nodes share one mediator identity: let the first node create the keys file before the others read it.
    if (!existsSync(state.keysFile)) {
      const first = toStart.shift()!;
      spawnNode(state, first);
      saveState(state);
      info(`Haven: started ${first.id} (creates the shared mediator identity)`);
      await waitReady([first]);
    }
    for (const n of toStart) spawnNode(state, n);
    saveState(state);
    if (toStart.length > 0) info(`Haven: started ${toStart.map((n) => n.id).join(", ")}`);
  }
  await waitReady(wanted);
  info(`Haven: ${count} node(s) ready`);
}

/** SIGTERM (the node drains: hands over its partitions, flushes its outbox), wait, SIGKILL only after `timeoutMs`. */
export async function drainAndStop(n: HavenNodeState, timeoutMs: number): Promise<void> {
  if (!signalIfAlive(n.pid, PID_MARKER, "SIGTERM")) {
    n.pid = null;
    return;
  }
  const ok = await pollUntil(timeoutMs, async () => !nodeRunning(n), () => `draining ${n.id} (pid ${n.pid})`);
  if (!ok) {
    info(`${n.id}: did not exit within ${timeoutMs / 1000}s of SIGTERM; sending SIGKILL (its journal is durable, nothing acknowledged is lost)`);
    signalIfAlive(n.pid, PID_MARKER, "SIGKILL");
  }
  n.pid = null;
}

/** Stops all nodes in parallel (graceful SIGTERM, bounded). */
export async function nodesDown(state: ClusterState): Promise<void> {
  await Promise.all(state.nodes.map((n) => drainAndStop(n, STOP_TIMEOUT_MS)));
  saveState(state);
}
