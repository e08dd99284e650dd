// Local cluster state (.cluster/state.json): which NATS servers and Haven nodes the runner started, on which ports and pids.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
const STATE_VERSION = 1;
const MAX_STATE_BYTES = 1 << 20;

export interface NatsServerState {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  pid: number | null;
  configPath: string;
  storeDir: string;
  logPath: string;
}

export interface HavenNodeState {
  id: string;
  /** 1-based index: node ids are haven-<index>, ports basePort + index - 1. */
  index: number;
  port: number;
  url: string;
  pid: number | null;
  dataDir: string;
  logPath: string;
}

export interface ClusterState {
  version: number;
  dir: string;
  clusterName: string;
  /** Shared by all nodes: one mediator identity for the whole cluster. */
  keysFile: string;
  /**
   * PUBLIC_URL of every node (absent in state files written before it existed: set by the next cluster:up). The
   * mediator's did:peer:2 embeds it as the service endpoint, so all nodes must share it to share one DID. Default: the
   * first node's URL; `--public-url` (e.g. a load balancer in front of the nodes) fixes it at the first `up`.
   */
  publicUrl?: string;
  /** Ports chosen at the first `up` (--base-port, --nats-port); later runs reuse them unless given again. */
  basePort?: number;
  natsPort?: number;
  nats: NatsServerState[];
  nodes: HavenNodeState[];
}

/** The runner's working directory: env HAVEN_CLUSTER_DIR, else <repo>/.cluster. */
export function clusterDir(): string {
  return resolve(process.env.HAVEN_CLUSTER_DIR ?? join(REPO_ROOT, ".cluster"));
}

export function statePath(dir: string): string {
  return join(dir, "state.json");
}

export function emptyState(dir: string): ClusterState {
  return { version: STATE_VERSION, dir, clusterName: "haven", keysFile: join(dir, "mediator-keys.json"), nats: [], nodes: [] };
}

export function loadState(dir: string): ClusterState | null {
  const path = statePath(dir);
  if (!existsSync(path)) return null;
  const text = readFileSync(path, "utf8");
  if (text.length > MAX_STATE_BYTES) throw new Error(`${path} is larger than ${MAX_STATE_BYTES} bytes; remove it`);
  const state = JSON.parse(text) as ClusterState;
  if (state.version !== STATE_VERSION || !Array.isArray(state.nats) || !Array.isArray(state.nodes)) {
    throw new Error(`${path} has an unknown format (version ${String(state.version)}); run cluster:down --purge`);
  }
  return state;
}

/** Written atomically (temp file + rename) so an interrupted runner never leaves half a state file. */
export function saveState(state: ClusterState): void {
  mkdirSync(state.dir, { recursive: true });
  const path = statePath(state.dir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, path);
}

/**
 * Pids this runner process spawned. Right after spawn, until the child has exec'ed, its /proc cmdline is still the
 * runner's own, so the marker check would call a starting child "exited"; these pids cannot be recycled while we run
 * (an exited child stays a zombie until we exit), so for them existence is enough.
 */
const spawnedHere = new Set<number>();

export function markSpawned(pid: number): void {
  spawnedHere.add(pid);
}

/**
 * True if `pid` is running and its command line contains `marker` (guards against a recycled pid
 * now belonging to an unrelated process).
 */
export function pidAlive(pid: number | null, marker: string): boolean {
  if (pid === null || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    if (!spawnedHere.has(pid) && !cmdline.includes(marker)) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie is not running
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/** Sends `signal` if the process is ours and alive; returns whether it was sent. */
export function signalIfAlive(pid: number | null, marker: string, signal: NodeJS.Signals): boolean {
  if (!pidAlive(pid, marker)) return false;
  try {
    process.kill(pid!, signal);
    return true;
  } catch {
    return false;
  }
}
