// Delivery scenario 2 (real processes, 3 nodes on NATS): 1000 webhook events accepted through all nodes reach a healthy endpoint exactly once, and /cluster/metrics totals equal the sum of every node's /metrics.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { partitionOf } from "../../src/cluster/partition.ts";
import { startEndpointServer, type EndpointServer } from "../support/endpoint-server.ts";
import { clusterStatus, type ClusterNode } from "../cluster-e2e/harness.ts";
import { admin, Agent, forward, mailboxWithWebhook, pool, seededRng, startCluster, waitFor, webhookOf, type HavenNodes, type Mailbox } from "./support.ts";

/**
 * "1000 events" = 1000 accepted forwards. With WEBHOOK_COALESCE_MS=0 (the default, spelled out below) every
 * accepted forward to a mailbox with a webhook yields exactly one webhook event (id `wh:<dedup id>`,
 * message_count 1), so 1000 forwards must become 1000 distinct idempotency keys at the endpoint.
 */
const EVENTS = 1000;
const PARTITIONS = 16;
/** Mailboxes per node (by partition owner), so that every node dispatches some events. */
const MAILBOXES_PER_NODE = 3;
/** Enrolments tried before giving up on covering every node (ownership is a hash: 3 per node needs ~10 on average). */
const MAX_ENROLMENTS = 60;
const IN_FLIGHT = 32;

/*
 * Why this holds under ownership churn: in-flight deliveries are fenced on partition loss (cluster-mode onLost ->
 * the delivery fence: no call starts once the lease stops serving; calls in flight get half the lease safety margin to
 * finish and record their 2xx before the lease can be taken over). The remaining at-least-once case: under severe CPU
 * starvation (load average ~30 on 2 cores) lease renewals time out, partitions move, and a local call can stay out
 * longer than the fence's budget; it is aborted after its request left and the new owner sends it again with the
 * same Idempotency-Key (log "in-flight call aborted by the partition fence"). Measured: 8 of 8 runs on a quiet
 * machine, 4 of 5 at load average ~30 (the failing run: exactly 4 such aborts, 1004 requests, 1000 delivered).
 */

let haven: HavenNodes;
let endpoint: EndpointServer;

beforeAll(async () => {
  endpoint = startEndpointServer({ kind: "succeed" });
  haven = await startCluster(
    3,
    // A healthy endpoint: no retries are expected, and the breaker must never be involved.
    { WEBHOOK_COALESCE_MS: "0", RATE_LIMIT_PER_CONNECTION: "100000", DELIVERY_CONCURRENCY_PER_DESTINATION: "16", LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "warn" },
    PARTITIONS,
  );
}, 120_000);

afterAll(async () => {
  await haven?.stop();
  await endpoint?.stop();
}, 60_000);

/** Prometheus text -> "name{k="v",...}" (labels sorted, so prom-client's and the aggregate's orders compare) -> value. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable metrics line: ${line.slice(0, 200)}`);
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}="${x[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(",")}}`, Number(m[3]));
  }
  return out;
}

async function metricsOf(url: string): Promise<Map<string, number>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return parseProm(await res.text());
}

const DELIVERED = 'haven_deliveries_total{kind="webhook",outcome="delivered"}';
const DEAD = 'haven_deliveries_total{kind="webhook",outcome="dead_lettered"}';
const ATTEMPT_OK = 'haven_delivery_attempts_total{kind="webhook",result="success"}';
const ACCEPTED = "haven_forwards_accepted_total{}";
const REPORTING = "haven_cluster_nodes_reporting{}";

/** Enrols mailboxes (through rotating nodes) until each node owns MAILBOXES_PER_NODE of them; returns them by owner. */
async function mailboxesOnEveryNode(): Promise<Mailbox[]> {
  const ownerOf = new Map<number, string>();
  for (const node of haven.nodes) for (const o of (await clusterStatus(node)).owned) if (o.serving) ownerOf.set(o.partition, node.id);
  expect(ownerOf.size).toBe(PARTITIONS);
  const byNode = new Map<string, Mailbox[]>(haven.nodes.map((n) => [n.id, []]));
  for (let i = 0; i < MAX_ENROLMENTS && [...byNode.values()].some((l) => l.length < MAILBOXES_PER_NODE); i++) {
    const m = await mailboxWithWebhook(haven.nodes[i % haven.nodes.length]!, `${endpoint.url}/hook/${i}`);
    // The mailbox is the mediation client's DID; its partition's owner dispatches its events.
    const list = byNode.get(ownerOf.get(partitionOf(m.r.control.did, PARTITIONS))!)!;
    if (list.length < MAILBOXES_PER_NODE) list.push(m);
  }
  for (const [id, l] of byNode) expect({ id, mailboxes: l.length }).toEqual({ id, mailboxes: MAILBOXES_PER_NODE });
  return [...byNode.values()].flat();
}


describe("scenario 2: exact cluster totals", () => {
  test("1000 events through 3 nodes, healthy endpoint: each delivered once; /cluster/metrics == sum of nodes' /metrics == 1000", async () => {
    const rng = seededRng("delivery-scenario2");
    const mailboxes = await mailboxesOnEveryNode();
    const sender = new Agent();
    const plan = Array.from({ length: EVENTS }, () => ({ via: haven.nodes[rng.int(haven.nodes.length)]!, m: mailboxes[rng.int(mailboxes.length)]! }));
    const acceptedVia = new Map<string, number>();
    for (const p of plan) acceptedVia.set(p.via.id, (acceptedVia.get(p.via.id) ?? 0) + 1);
    console.log(`[delivery-scenario2] forwards accepted per node: ${JSON.stringify(Object.fromEntries(acceptedVia))}`);
    await pool(plan, IN_FLIGHT, ({ via, m }, i) => forward(via.ref, m, sender, `event ${i}`));

    // Deliveries are counted once the endpoint's 2xx is recorded; wait on the nodes' own counters.
    const deliveredOn = async (node: ClusterNode) => (await metricsOf(`${node.proc.url}/metrics`)).get(DELIVERED) ?? 0;
    await waitFor("1000 deliveries counted across the nodes", async () => (await Promise.all(haven.nodes.map(deliveredOn))).reduce((a, b) => a + b, 0) >= EVENTS, 45_000);
    for (const node of haven.nodes) expect((await admin(node, "GET", "/admin/queue")).json).toMatchObject({ pending: 0, dead_lettered: 0 });

    // The endpoint: exactly 1000 requests, all 2xx, 1000 distinct idempotency keys, one message each, every mailbox's hook hit.
    expect(endpoint.requests.length).toBe(EVENTS);
    expect(endpoint.successes().length).toBe(EVENTS);
    const hooks = endpoint.successes().map(webhookOf);
    expect(new Set(hooks.map((h) => h.event_id)).size).toBe(EVENTS);
    expect(hooks.every((h) => h.message_count === 1)).toBe(true);
    const perDid = new Map<string, number>();
    for (const h of hooks) perDid.set(h.recipient_did, (perDid.get(h.recipient_did) ?? 0) + 1);
    const planned = new Map<string, number>();
    for (const p of plan) planned.set(p.m.did, (planned.get(p.m.did) ?? 0) + 1);
    expect(perDid).toEqual(planned);

    // Per-node figures (quiescent now): each node's own share, then the cluster view from every node.
    const own = await Promise.all(haven.nodes.map((n) => metricsOf(`${n.proc.url}/metrics`)));
    const sum = (k: string) => own.reduce((a, m) => a + (m.get(k) ?? 0), 0);
    console.log(`[delivery-scenario2] delivered per node: ${JSON.stringify(Object.fromEntries(haven.nodes.map((n, i) => [n.id, own[i]!.get(DELIVERED) ?? 0])))}`);
    // Every node dispatched its mailboxes' events (it owns MAILBOXES_PER_NODE of them), and accepted its share of forwards.
    haven.nodes.forEach((n, i) => {
      expect(own[i]!.get(DELIVERED) ?? 0).toBeGreaterThan(0);
      expect(own[i]!.get(ACCEPTED)).toBe(acceptedVia.get(n.id) ?? 0);
    });
    expect(sum(DELIVERED)).toBe(EVENTS);
    expect(sum(ATTEMPT_OK)).toBe(EVENTS);
    expect(sum(DEAD)).toBe(0);
    expect(sum(ACCEPTED)).toBe(EVENTS);
    // /admin/queue's counters and /metrics agree on each node.
    for (const [i, node] of haven.nodes.entries()) {
      expect((await admin(node, "GET", "/admin/queue")).json.node.outcomes.delivered ?? 0).toBe(own[i]!.get(DELIVERED) ?? 0);
    }
    for (const node of haven.nodes) {
      const cluster = await metricsOf(`${node.proc.url}/cluster/metrics`);
      expect(cluster.get(REPORTING)).toBe(haven.nodes.length);
      for (const k of [DELIVERED, ATTEMPT_OK, DEAD, ACCEPTED]) expect({ node: node.id, k, v: cluster.get(k) }).toEqual({ node: node.id, k, v: sum(k) });
      expect(cluster.get(DELIVERED)).toBe(EVENTS);
    }
  }, 120_000);
});
