// Local cluster CLI: `cluster:up -- --nodes N` (3 NATS servers + N Haven nodes, adjustable), `cluster:down`, `cluster:status [--json]`.
import { rmSync } from "node:fs";
import { natsDown, natsUp } from "../cluster/runner/nats.ts";
import { MAX_NODES, nodesDown, nodesUp } from "../cluster/runner/nodes.ts";
import { done, info } from "../cluster/runner/progress.ts";
import { clusterDir, emptyState, loadState, saveState } from "../cluster/runner/state.ts";
import { collectStatus, renderStatus } from "../cluster/runner/status.ts";

const USAGE = `usage:
  bun run cluster:up -- [--nodes N] [--base-port 3001] [--nats-port 4222] [--public-url URL]
      start (or adjust to) N Haven nodes (default 3, 1..${MAX_NODES}) on a local 3-server NATS JetStream cluster;
      re-run with another N to add nodes or drain and remove the highest-numbered ones.
      All nodes get the same PUBLIC_URL (the shared DID embeds it): --public-url, default the first node's URL.
      Ports and the public URL are fixed by the first \`up\` of a cluster dir (later runs reuse them).
  bun run cluster:down -- [--purge]     stop all nodes and NATS servers (--purge also deletes .cluster data)
  bun run cluster:status -- [--json]    show NATS servers and nodes (id, URL, pid, state, partitions, load)
state, logs and data live in .cluster/ (override with HAVEN_CLUSTER_DIR)`;

function intFlag(args: string[], name: string, def: number, min: number, max: number): number {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const raw = args[i + 1];
  const v = Number(raw);
  if (raw === undefined || !Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} needs an integer in ${min}..${max}, got ${raw ?? "nothing"}`);
  return v;
}

class UsageError extends Error {}

function stringFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const raw = args[i + 1];
  if (raw === undefined || raw.startsWith("--")) throw new UsageError(`${name} needs a value`);
  return raw;
}

/** An absolute http(s) URL without a trailing slash (the form PUBLIC_URL takes). */
function publicUrlFlag(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--public-url must be an absolute URL, got ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--public-url must be http(s), got ${raw}`);
  return url.href.replace(/\/+$/, "");
}

/**
 * Ports and the public URL belong to a cluster dir from its first `up`: its NATS servers, nodes and the shared DID
 * (which embeds the public URL) were made with them. A different value later is refused rather than half-applied.
 */
function settle<T>(what: string, given: T | undefined, remembered: T | undefined, fallback: T, established: boolean): T {
  if (given !== undefined && remembered !== undefined && given !== remembered && established) {
    throw new UsageError(`this cluster was created with ${what} ${String(remembered)}; run \`bun run cluster:down -- --purge\` to change it`);
  }
  return given ?? remembered ?? fallback;
}

function checkFlags(args: string[], allowed: Record<string, boolean>): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!(a in allowed)) throw new UsageError(`unknown argument ${a}`);
    if (allowed[a]) i++; // takes a value
  }
}

async function up(args: string[]): Promise<void> {
  checkFlags(args, { "--nodes": true, "--base-port": true, "--nats-port": true, "--public-url": true });
  const count = intFlag(args, "--nodes", 3, 1, MAX_NODES);
  const givenBase = args.includes("--base-port") ? intFlag(args, "--base-port", 3001, 1024, 65535 - MAX_NODES) : undefined;
  const givenNats = args.includes("--nats-port") ? intFlag(args, "--nats-port", 4222, 1024, 65535 - 4010) : undefined;
  const rawPublic = stringFlag(args, "--public-url");
  const givenPublic = rawPublic === undefined ? undefined : publicUrlFlag(rawPublic);
  const dir = clusterDir();
  const state = loadState(dir) ?? emptyState(dir);
  const basePort = settle("--base-port", givenBase, state.basePort, 3001, state.nodes.length > 0);
  const natsPort = settle("--nats-port", givenNats, state.natsPort, 4222, state.nats.length > 0);
  // Fixed once any node has minted the DID with it (the keys file exists from then on).
  state.publicUrl = settle("--public-url", givenPublic, state.publicUrl, `http://127.0.0.1:${basePort}`, state.nodes.length > 0);
  state.basePort = basePort;
  state.natsPort = natsPort;
  saveState(state);
  info(`PUBLIC_URL of every node (in the shared DID): ${state.publicUrl}`);
  await natsUp(state, natsPort);
  await nodesUp(state, count, basePort);
  done();
  process.stdout.write(renderStatus(await collectStatus(state)));
}

async function down(args: string[]): Promise<void> {
  checkFlags(args, { "--purge": false });
  const dir = clusterDir();
  const state = loadState(dir);
  if (state === null) {
    done("no local cluster state found: nothing to stop");
  } else {
    await nodesDown(state);
    await natsDown(state);
    done("local cluster stopped");
  }
  if (args.includes("--purge")) {
    rmSync(dir, { recursive: true, force: true });
    done(`removed ${dir}`);
  }
}

async function status(args: string[]): Promise<void> {
  checkFlags(args, { "--json": false });
  const state = loadState(clusterDir());
  if (state === null) {
    if (args.includes("--json")) process.stdout.write(`${JSON.stringify({ dir: clusterDir(), publicUrl: null, nats: [], nodes: [] })}\n`);
    else done("no local cluster (run `bun run cluster:up`)");
    return;
  }
  const s = await collectStatus(state);
  process.stdout.write(args.includes("--json") ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s));
}

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[]) => Promise<void>> = { up, down, status };
const run = command === undefined ? undefined : commands[command];
if (run === undefined) {
  console.error(USAGE);
  process.exit(2);
}
try {
  await run(rest);
} catch (e) {
  done();
  console.error(`cluster ${command}: ${e instanceof Error ? e.message : String(e)}`);
  if (e instanceof UsageError) console.error(USAGE);
  process.exit(e instanceof UsageError ? 2 : 1);
}
