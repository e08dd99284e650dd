// Cluster scenario 5 (real processes): rolling restart of every node under load, behind a health-checking load
// balancer: zero failed client requests (see load-balancer.ts for the definition), every 202 delivered exactly once.
// Randomised (restart order, load between restarts): prints SEED; SEED=... replays the schedule.
import { describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { contentOf, deliver, enrol, packVia, received, T, type Recipient } from "../e2e/helpers.ts";
import { clusterStatus, ownershipSettled, waitFor, type ClusterNode, useTestCluster } from "./harness.ts";
import { TestLoadBalancer } from "./load-balancer.ts";

const RECIPIENTS = 6;
const WORKERS = 6;
/** Every STATUS_EVERY-th operation is a status-request (a read routed to the mailbox's owner) instead of a forward. */
const STATUS_EVERY = 5;
const MAX_OPERATIONS = 5_000;

const cluster = useTestCluster({ nodes: 3 });

async function drainMailbox(via: ClusterNode, r: Recipient): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await deliver(via.ref, r, 100);
    if (got.length === 0) return out;
    out.push(...got.map(contentOf));
    await received(via.ref, r, got.map((d) => d.storedId));
  }
}

function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("scenario 5: rolling restart under load", () => {
  test("every node restarted in turn (SIGTERM drain, restart on the same data dir): no client request fails", async () => {
    const seed = seedFromEnv();
    console.log(`scenario 5 SEED=${seed}`);
    const rng = new Rng(seed);
    const nodes = cluster.nodes;
    const order = shuffled(nodes, rng);
    const loadBetween = order.map(() => 20 + rng.int(40));
    console.log(`order=${order.map((n) => n.id).join(",")} acksBetweenRestarts=${loadBetween.join(",")}`);

    const mediator = { did: nodes[0]!.ref.did };
    const recipients: Recipient[] = [];
    for (let i = 0; i < RECIPIENTS; i++) recipients.push(await enrol(nodes[i % nodes.length]!.ref));
    const lb = new TestLoadBalancer(nodes.map((n) => ({ id: n.id, url: n.proc.url })));
    await lb.start();

    const sender = new Agent();
    const acked = new Set<string>();
    let statusOk = 0;
    let stopped = false;
    let op = 0;
    const worker = async (): Promise<void> => {
      while (!stopped && op < MAX_OPERATIONS) {
        const i = op++;
        const r = recipients[i % recipients.length]!;
        if (i % STATUS_EVERY === 0) {
          const st = await lb.ask(r.control, mediator, r.control.message(T.statusRequest, {}, mediator.did), `status-${i}`);
          if (st !== null && st.type === T.status) statusOk++;
          continue;
        }
        const text = `r-${i}`;
        const { packed } = await packVia(sender, r.inbox.did, text);
        const reply = await lb.post(sender, packed, text);
        if (reply !== null && reply.status === 202) acked.add(text);
      }
    };

    const running = Promise.all(Array.from({ length: WORKERS }, worker));
    const drainedInFlight: number[] = [];
    try {
      for (const [k, node] of order.entries()) {
        const base = acked.size;
        await waitFor(`${loadBetween[k]} more acks before restarting ${node.id}`, () => acked.size >= base + loadBetween[k]!);
        // The load balancer has requests out to the node when it gets SIGTERM: those must complete.
        await waitFor(`a request in flight to ${node.id}`, () => lb.inFlightTo(node.id) > 0);
        const servedBefore = lb.servedBy(node.id);
        const sigtermAtMs = performance.now();
        const exitCode = await node.proc.kill("SIGTERM");
        const drainMs = performance.now() - sigtermAtMs;
        expect(exitCode).toBe(0);
        drainedInFlight.push(lb.servedBy(node.id) - servedBefore);
        const restartAtMs = performance.now();
        await node.proc.restart(); // returns once /health/ready answers 200
        const readyMs = performance.now() - restartAtMs;
        await waitFor(`ownership settled after restarting ${node.id}`, () => ownershipSettled(nodes, cluster.partitions), 30_000);
        const settledMs = performance.now() - restartAtMs;
        console.log(`recovery: ${node.id} SIGTERM -> exit (drain)=${Math.round(drainMs)} ms`);
        console.log(`recovery: ${node.id} restart -> ready=${Math.round(readyMs)} ms`);
        console.log(`recovery: ${node.id} restart -> ownership settled=${Math.round(settledMs)} ms`);
      }
      const base = acked.size;
      await waitFor("load after the last restart", () => acked.size >= base + 20);
    } finally {
      stopped = true;
      await running;
      await lb.stop();
    }
    console.log(`lb=${JSON.stringify(lb.counters)} acked=${acked.size} statusOk=${statusOk} answeredWhileDraining=${drainedInFlight.join(",")}`);
    expect(lb.failures).toEqual([]);
    expect(lb.counters.failed).toBe(0);
    expect(lb.counters.succeeded).toBe(lb.counters.requests);
    // Requests in flight at SIGTERM were answered by the stopping node itself (not failed over).
    for (const n of drainedInFlight) expect(n).toBeGreaterThan(0);

    // No node ever overran its lease safety margin (the fencing invariant's observable), then exactly-once delivery.
    for (const n of nodes) expect((await clusterStatus(n)) as unknown as { ownershipEvents: { fenceOverruns: number } }).toMatchObject({ ownershipEvents: { fenceOverruns: 0 } });
    const delivered: string[] = [];
    for (const [i, r] of recipients.entries()) delivered.push(...(await drainMailbox(nodes[i % nodes.length]!, r)));
    const counts = new Map<string, number>();
    for (const t of delivered) counts.set(t, (counts.get(t) ?? 0) + 1);
    expect([...counts].filter(([, c]) => c > 1).map(([t]) => t)).toEqual([]);
    expect([...acked].filter((t) => !counts.has(t))).toEqual([]);
    // Every forward got a 202, so nothing beyond the acknowledged ones can appear.
    expect(delivered.length).toBe(acked.size);
  }, 120_000);
});
