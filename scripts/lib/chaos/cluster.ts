// The cluster under test for bench:chaos and soak: 3 NATS servers (JetStream R3) + N Haven nodes sharing one identity;
// the last node reaches NATS only through fault proxies, so it can be partitioned from every NATS server.
import { mkdirSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { deriveWsUrl } from "../../../src/config/formats.ts";
import { loadOrCreateIdentityFile, mintMediatorDid } from "../../../src/didcomm/identity/index.ts";
import { FaultProxy } from "../../../test/support/fault-proxy.ts";
import { startNatsCluster, type NatsCluster } from "../../../test/support/nats-cluster.ts";
import { startNodeProcess, type NodeProcess } from "../../../test/support/node-process.ts";
import { BenchParty, BenchWorld, BT, pool } from "../bench-party.ts";

/** The shared PUBLIC_URL (in the one DID all nodes present): a load balancer's address in production. */
export const PUBLIC_URL = "http://haven.chaos.test";
/** Production failure-detection defaults, or with --fast those of the cluster e2e tests. */
export const TIMINGS = {
  prod: { HEARTBEAT_INTERVAL_MS: "250", SUSPECT_AFTER_MS: "750", DEAD_AFTER_MS: "1500", LEASE_TTL_MS: "1500" },
  fast: { HEARTBEAT_INTERVAL_MS: "100", SUSPECT_AFTER_MS: "400", DEAD_AFTER_MS: "800", LEASE_TTL_MS: "1500" },
} as const;
const NODE_ENV = { RATE_LIMIT_PER_CONNECTION: "100000", MAILBOX_MAX_MESSAGES: "10000000", MAILBOX_MAX_BYTES: "1024GiB", LOG_LEVEL: "warn", NATS_REPLICAS: "3" };

export interface ChaosNode {
  id: string;
  proc: NodeProcess;
  /** True for the node whose NATS traffic goes through the fault proxies. */
  proxied: boolean;
}

export interface StatusJson {
  live: string[];
  owned: { partition: number; serving: boolean }[];
  outbox: { size: number; degraded: boolean };
}

export interface ChaosClusterOptions {
  nodes: number;
  partitions: number;
  timings: Record<string, string>;
  workDir: string;
}

export class ChaosCluster {
  private constructor(
    readonly nats: NatsCluster,
    readonly nodes: ChaosNode[],
    readonly proxies: FaultProxy[],
    readonly partitions: number,
  ) {}

  /** The mediator DID the nodes will present (computed before they start, so envelopes can be built meanwhile). */
  static async identity(workDir: string): Promise<{ keysFile: string; did: string }> {
    const keysFile = join(workDir, "mediator-keys.json");
    const id = await loadOrCreateIdentityFile(keysFile);
    return { keysFile, did: mintMediatorDid(id, { httpUri: PUBLIC_URL, wsUri: deriveWsUrl(PUBLIC_URL) }).did };
  }

  static async start(o: ChaosClusterOptions, keysFile: string, did: string): Promise<ChaosCluster> {
    if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 6) throw new RangeError("--nodes must be 2..6");
    const nats = await startNatsCluster({ servers: 3 });
    const proxies = nats.urls.map((url) => FaultProxy.start({ target: url }));
    const nodes: ChaosNode[] = [];
    try {
      const ids = Array.from({ length: o.nodes }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
      const started = await Promise.all(
        ids.map(async (id, i) => {
          const proxied = i === ids.length - 1;
          const natsUrl = (proxied ? proxies.map((p) => p.url) : nats.urls).join(",");
          const proc = await startNodeProcess({
            startTimeoutMs: 60_000,
            dataDir: join(o.workDir, id),
            env: { ...NODE_ENV, ...o.timings, NODE_ID: id, PARTITIONS: String(o.partitions), NATS_URL: natsUrl, MEDIATOR_KEYS_FILE: keysFile, PUBLIC_URL },
          });
          return { id, proc, proxied };
        }),
      );
      nodes.push(...started);
      const c = new ChaosCluster(nats, nodes, proxies, o.partitions);
      for (const n of nodes) if (n.proc.did !== did) throw new Error(`${n.id} presents another DID than the one computed`);
      await until("ownership settled", 90_000, () => c.settled());
      return c;
    } catch (e) {
      await Promise.allSettled(nodes.map((n) => n.proc.stop()));
      for (const p of proxies) p.close();
      await nats.stop();
      throw e;
    }
  }

  get proxiedNode(): ChaosNode {
    return this.nodes[this.nodes.length - 1]!;
  }

  async status(n: ChaosNode): Promise<StatusJson> {
    const res = await fetch(`${n.proc.url}/cluster/status`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`${n.id}: /cluster/status ${res.status}`);
    return (await res.json()) as StatusJson;
  }

  /** True when all nodes agree on the live set and every partition is served exactly once. */
  async settled(): Promise<boolean> {
    const ids = JSON.stringify(this.nodes.map((n) => n.id).sort());
    const served = new Set<number>();
    for (const n of this.nodes) {
      const s = await this.status(n);
      if (JSON.stringify([...s.live].sort()) !== ids) return false;
      for (const o of s.owned) {
        if (!o.serving) continue;
        if (served.has(o.partition)) return false;
        served.add(o.partition);
      }
    }
    return served.size === this.partitions;
  }

  /** True when no node holds forwards in its local outbox (all relayed to the stream). */
  async outboxesEmpty(): Promise<boolean> {
    const s = await Promise.all(this.nodes.map((n) => this.status(n)));
    return s.every((x) => x.outbox.size === 0);
  }

  cutFromNats(): void {
    for (const p of this.proxies) p.cut();
  }
  healFromNats(): void {
    for (const p of this.proxies) p.pass();
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.proc.stop()));
    for (const p of this.proxies) p.close();
    await this.nats.stop();
  }
}

/** Polls `probe` (a status read, not a stand-in for an event) until it is truthy or the deadline passes. */
export async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) throw new Error(`timed out: ${what}${last ? ` (last: ${String(last)})` : ""}`);
    await Bun.sleep(50);
  }
}

/** Parties (recipients) and `count` distinct forward envelopes, envelope i for party i % parties, one per line. */
export async function buildEnvelopes(world: BenchWorld, recipients: number, count: number, file: string): Promise<BenchParty[]> {
  const parties = Array.from({ length: recipients }, () => world.party());
  const fd = openSync(file, "w");
  try {
    for (let i = 0; i < count; i++) writeSync(fd, (await world.forwardFor(parties[i % recipients]!.did, `chaos ${i}`)) + "\n");
  } finally {
    closeSync(fd);
  }
  return parties;
}

export async function enrolAll(parties: BenchParty[]): Promise<void> {
  await pool(parties.length, 8, (i) => parties[i]!.enrol());
}

/** message_count of each party's mailbox (status-request through whichever node `world` talks to). */
export async function mailboxCounts(parties: BenchParty[]): Promise<number[]> {
  const out = new Array<number>(parties.length).fill(-1);
  await pool(parties.length, 8, async (i) => {
    const r = await parties[i]!.ask(BT.statusRequest, {});
    if (r.type !== BT.status || typeof r.body.message_count !== "number") throw new Error(`status-request: unexpected ${r.type}`);
    out[i] = r.body.message_count;
  });
  return out;
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
