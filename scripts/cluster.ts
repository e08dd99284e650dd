// Local cluster CLI: `cluster:up -- --nodes N` (3 NATS servers + N Haven nodes, adjustable), `cluster:down`, `cluster:status [--json]`.
import { rmSync } from "node:fs";
import { natsDown, natsUp } from "../cluster/runner/nats.ts";
import { MAX_NODES, nodesDown, nodesUp } from "../cluster/runner/nodes.ts";
import { done } from "../cluster/runner/progress.ts";
import { clusterDir, emptyState, loadState, saveState } from "../cluster/runner/state.ts";
import { collectStatus, renderStatus } from "../cluster/runner/status.ts";

const USAGE = `usage:
  bun run cluster:up -- [--nodes N] [--base-port 3001] [--nats-port 4222]
      start (or adjust to) N Haven nodes (default 3, 1..${MAX_NODES}) on a local 3-server NATS JetStream cluster;
      re-run with another N to add nodes or drain and remove the highest-numbered ones
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

function checkFlags(args: string[], allowed: Record<string, boolean>): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!(a in allowed)) throw new UsageError(`unknown argument ${a}`);
    if (allowed[a]) i++; // takes a value
  }
}

async function up(args: string[]): Promise<void> {
  checkFlags(args, { "--nodes": true, "--base-port": true, "--nats-port": true });
  const count = intFlag(args, "--nodes", 3, 1, MAX_NODES);
  const basePort = intFlag(args, "--base-port", 3001, 1024, 65535 - MAX_NODES);
  const natsPort = intFlag(args, "--nats-port", 4222, 1024, 65535 - 4010);
  const dir = clusterDir();
  const state = loadState(dir) ?? emptyState(dir);
  saveState(state);
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
    if (args.includes("--json")) process.stdout.write(`${JSON.stringify({ dir: clusterDir(), nats: [], nodes: [] })}\n`);
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
