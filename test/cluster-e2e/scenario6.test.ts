// Cluster scenario 6 (real processes, via the operator CLI): scale 3 -> 4 -> 2 nodes with `cluster:up -- --nodes N`
// under load behind a health-checking load balancer: about 1/4 of the partitions move to the new node and only to it,
// removed nodes drain (no SIGKILL), no client request fails, every 202 is delivered exactly once. Runs in a temp
// HAVEN_CLUSTER_DIR on free non-default ports, so it never touches a developer's .cluster. Randomised load: prints SEED.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { portFree } from "../../cluster/runner/progress.ts";
import { Agent, type MediatorRef } from "../support/agent.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { contentOf, deliver, enrol, packVia, received, T, type Recipient } from "../e2e/helpers.ts";
import { FAST_TIMINGS, waitFor } from "./harness.ts";
import { TestLoadBalancer } from "./load-balancer.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");
const PARTITIONS = 64;
const MAX_NODES_HERE = 4;
const RECIPIENTS = 6;
const WORKERS = 4;
const MAX_OPERATIONS = 5_000;
const CLI_TIMEOUT_MS = 60_000;

let dir = "";
let basePort = 0;
let natsPort = 0;

/** Ports the CLI derives from its two bases (see cluster/runner): all must be free. */
function choosePorts(): void {
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = 20_000 + Math.floor(Math.random() * 15_000);
    const b = 40_000 + Math.floor(Math.random() * 20_000);
    const needed = [n, n + 1, n + 2, n + 2000, n + 2001, n + 2002, n + 4000, n + 4001, n + 4002, b, b + 1, b + 2, b + 3];
    if (needed.every(portFree)) {
      natsPort = n;
      basePort = b;
      return;
    }
  }
  throw new Error("no free port range found");
}

async function cli(...args: string[]): Promise<string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  for (const name of ["NATS_URL", "MEDIATOR_KEYS_FILE", "PUBLIC_URL", "NODE_ID", "PORT", "DATA_DIR"]) delete env[name];
  // Fast failure detection, but the default lease TTL: the first node starts alone and opens all PARTITIONS at once,
  // and on a 2-core machine that stall can outlast FAST_TIMINGS' 1.5 s lease (seen as fence overruns); scenario 6
  // tests scaling, not failover speed.
  Object.assign(env, FAST_TIMINGS, { LEASE_TTL_MS: "3000" }, { HAVEN_CLUSTER_DIR: dir, LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "warn", PARTITIONS: String(PARTITIONS), NATS_REPLICAS: "3" });
  const proc = Bun.spawn(["bun", "run", "scripts/cluster.ts", ...args], { cwd: REPO_ROOT, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), CLI_TIMEOUT_MS);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`cluster ${args.join(" ")} exited ${code}\n${err.slice(-3000)}\n${out.slice(-2000)}`);
  return `${err}\n${out}`;
}

const nodeUrl = (i: number): string => `http://127.0.0.1:${basePort + i - 1}`;
const nodeId = (i: number): string => `haven-${i}`;

interface NodeReport {
  nodeId: string;
  live: string[];
  owned: { partition: number; serving: boolean }[];
  ownershipEvents: { fenceOverruns: number };
}

async function report(i: number): Promise<NodeReport> {
  const res = await fetch(`${nodeUrl(i)}/cluster/status`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`GET /cluster/status on ${nodeId(i)}: ${res.status}`);
  return (await res.json()) as NodeReport;
}

/** partition -> serving node when nodes 1..n agree on the live set and each partition is served exactly once; else null. */
async function settledOwners(n: number): Promise<Map<number, string> | null> {
  const ids = Array.from({ length: n }, (_, k) => nodeId(k + 1)).sort();
  const reports = await Promise.all(ids.map((_, k) => report(k + 1)));
  const owners = new Map<number, string>();
  for (const r of reports) {
    if (JSON.stringify([...r.live].sort()) !== JSON.stringify(ids)) return null;
    for (const o of r.owned) {
      if (!o.serving) continue;
      if (owners.has(o.partition)) return null; // snapshots of a handover in progress
      owners.set(o.partition, r.nodeId);
    }
  }
  return owners.size === PARTITIONS ? owners : null;
}

async function waitSettled(n: number): Promise<Map<number, string>> {
  let owners: Map<number, string> | null = null;
  await waitFor(`${n} nodes serve all ${PARTITIONS} partitions`, async () => (owners = await settledOwners(n)) !== null, 30_000);
  return owners!;
}

async function drainMailbox(m: MediatorRef, r: Recipient): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await deliver(m, r, 100);
    if (got.length === 0) return out;
    out.push(...got.map(contentOf));
    await received(m, r, got.map((d) => d.storedId));
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "haven-scale-"));
  choosePorts();
});

/** E2E_KEEP_DIR=1 keeps the cluster dir (logs, state) for a post-mortem; the processes are stopped regardless. */
const keepDir = process.env.E2E_KEEP_DIR === "1";

afterAll(async () => {
  try {
    await (keepDir ? cli("down") : cli("down", "--purge"));
  } catch (e) {
    // Last resort: the CLI starts detached processes; never leave them behind.
    console.error(String(e));
    try {
      const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { nats: { pid: number | null }[]; nodes: { pid: number | null }[] };
      for (const p of [...state.nodes, ...state.nats]) if (p.pid) process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  if (!keepDir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("scenario 6: scale 3 -> 4 -> 2 with cluster:up under load", () => {
  test("ownership moves minimally, removed nodes drain, no client request fails, nothing lost or doubled", async () => {
    const seed = seedFromEnv();
    console.log(`scenario 6 SEED=${seed} dir=${dir} natsPort=${natsPort} basePort=${basePort}`);
    const rng = new Rng(seed);

    const upOut = await cli("up", "--nodes", "3", "--base-port", String(basePort), "--nats-port", String(natsPort));
    expect(upOut).toContain(`PUBLIC_URL of every node (in the shared DID): ${nodeUrl(1)}`);
    // One identity: every node serves the same invitation DID (same keys, same PUBLIC_URL).
    const dids = await Promise.all([1, 2, 3].map(async (i) => ((await (await fetch(`${nodeUrl(i)}/invitation`)).json()) as { from: string }).from));
    expect(new Set(dids).size).toBe(1);
    const mediator: MediatorRef = { url: nodeUrl(1), did: dids[0]!, wsUrl: `ws://127.0.0.1:${basePort}/ws` };
    const owners3 = await waitSettled(3);

    const recipients: Recipient[] = [];
    for (let i = 0; i < RECIPIENTS; i++) recipients.push(await enrol({ ...mediator, url: nodeUrl(1 + (i % 3)) }));
    const lb = new TestLoadBalancer(Array.from({ length: MAX_NODES_HERE }, (_, k) => ({ id: nodeId(k + 1), url: nodeUrl(k + 1) })));
    await lb.start();
    const sender = new Agent();
    const acked = new Set<string>();
    let stopped = false;
    let op = 0;
    const worker = async (): Promise<void> => {
      while (!stopped && op < MAX_OPERATIONS) {
        const i = op++;
        const r = recipients[rng.int(recipients.length)]!;
        if (rng.int(6) === 0) {
          await lb.ask(r.control, mediator, r.control.message(T.statusRequest, {}, mediator.did), `status-${i}`);
          continue;
        }
        const text = `s-${i}`;
        const { packed } = await packVia(sender, r.inbox.did, text);
        const reply = await lb.post(sender, packed, text);
        if (reply !== null && reply.status === 202) acked.add(text);
      }
    };
    const running = Promise.all(Array.from({ length: WORKERS }, worker));
    let owners4: Map<number, string>;
    let owners2: Map<number, string>;
    let scaleDownOut = "";
    try {
      const more = async (n: number, what: string) => {
        const base = acked.size;
        await waitFor(what, () => acked.size >= base + n);
      };
      await more(20 + rng.int(30), "load before scaling up");

      const upAtMs = performance.now();
      await cli("up", "--nodes", "4");
      const upCliMs = performance.now() - upAtMs;
      owners4 = await waitSettled(4);
      console.log(`recovery: scale 3->4 \`cluster:up\` returned=${Math.round(upCliMs)} ms`);
      console.log(`recovery: scale 3->4 start -> 4 nodes serve all ${PARTITIONS} partitions=${Math.round(performance.now() - upAtMs)} ms`);
      await more(20 + rng.int(30), "load on 4 nodes");
      const status = JSON.parse(await cli("status", "--json").then((o) => o.slice(o.indexOf("{")))) as {
        publicUrl: string;
        nodes: { id: string; state: string; ownedPartitions: number | null; load: { rssBytes: number | null } | null }[];
      };
      expect(status.publicUrl).toBe(nodeUrl(1));
      expect(status.nodes.map((n) => n.id)).toEqual([1, 2, 3, 4].map(nodeId));
      for (const n of status.nodes) {
        expect(n.state).toBe("alive");
        expect(n.load?.rssBytes).toBeGreaterThan(0);
      }
      expect(status.nodes.reduce((s, n) => s + (n.ownedPartitions ?? 0), 0)).toBe(PARTITIONS);

      const downAtMs = performance.now();
      scaleDownOut = await cli("up", "--nodes", "2");
      const downCliMs = performance.now() - downAtMs;
      owners2 = await waitSettled(2);
      console.log(`recovery: scale 4->2 \`cluster:up\` returned (both removed nodes drained)=${Math.round(downCliMs)} ms`);
      console.log(`recovery: scale 4->2 start -> 2 nodes serve all ${PARTITIONS} partitions=${Math.round(performance.now() - downAtMs)} ms`);
      await more(20 + rng.int(30), "load on 2 nodes");
    } finally {
      stopped = true;
      await running;
      await lb.stop();
    }

    // 3 -> 4: what moved went to the new node, about a quarter of the partitions.
    const moved = [...owners4].filter(([p, o]) => owners3.get(p) !== o);
    console.log(`3->4 moved ${moved.length}/${PARTITIONS}; 4->2 output: ${scaleDownOut.split("\n").filter((l) => /drained|SIGKILL/.test(l)).join(" | ")}`);
    for (const [, o] of moved) expect(o).toBe(nodeId(4));
    expect(moved.length).toBeGreaterThanOrEqual(PARTITIONS / 8);
    expect(moved.length).toBeLessThanOrEqual(PARTITIONS / 2);
    // 4 -> 2: partitions of the staying nodes stayed; the removed nodes drained (no SIGKILL needed).
    for (const [p, o] of owners4) if (o === nodeId(1) || o === nodeId(2)) expect(owners2.get(p)).toBe(o);
    expect(scaleDownOut).toContain("haven-4: drained and stopped");
    expect(scaleDownOut).toContain("haven-3: drained and stopped");
    expect(scaleDownOut).not.toContain("SIGKILL");

    console.log(`lb=${JSON.stringify(lb.counters)} acked=${acked.size}`);
    expect(lb.failures).toEqual([]);
    expect(lb.counters.failed).toBe(0);
    for (const i of [1, 2]) expect((await report(i)).ownershipEvents.fenceOverruns).toBe(0);

    const delivered: string[] = [];
    for (const [i, r] of recipients.entries()) delivered.push(...(await drainMailbox({ ...mediator, url: nodeUrl(1 + (i % 2)) }, r)));
    const counts = new Map<string, number>();
    for (const t of delivered) counts.set(t, (counts.get(t) ?? 0) + 1);
    expect([...counts].filter(([, c]) => c > 1).map(([t]) => t)).toEqual([]);
    expect([...acked].filter((t) => !counts.has(t))).toEqual([]);
    expect(delivered.length).toBe(acked.size);
  }, 120_000);
});
