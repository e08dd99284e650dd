// Delivery scenario 4 (real processes): NATS is killed mid-run -> the nodes keep delivering with the in-memory breaker from their local outbox, nothing lost, nothing twice; NATS back -> the breaker is shared again (failures on two nodes add up).
//
// Configuration (deliberate): 2 Haven nodes in cluster mode on ONE nats-server (R1), killed with SIGKILL and restarted
// on the same port and store. With all of NATS down no node holds a partition lease, so JetStream-queued events wait;
// what keeps flowing are the events accepted during the outage: they sit in the accepting node's SQLite outbox (they
// exist nowhere else), and that node dispatches them itself through its in-memory breaker, then never relays them.
// Every request is checked by Idempotency-Key: each event exactly once. Shared-again proof: DELIVERY_MAX_ATTEMPTS=1
// and a failing endpoint; 3 failures through node A's partitions, then node B admits only the 2 calls left of the
// threshold (5) before the breaker opens for both. Per-node breakers would let B fail 3 times.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { partitionOf } from "../../src/cluster/partition.ts";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import { startEndpointServer, type EndpointServer } from "../support/endpoint-server.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess } from "../support/node-process.ts";
import { FAST_TIMINGS, ownershipSettled, clusterStatus, type ClusterNode } from "../cluster-e2e/harness.ts";
import { packVia } from "../e2e/helpers.ts";
import { ADMIN_TOKEN, admin, Agent, mailboxWithWebhook, pool, waitFor, webhookOf, type Mailbox } from "./support.ts";

const PARTITIONS = 8;
const MAILBOXES = 6;
const THRESHOLD = 5;
const BEFORE = 2 * MAILBOXES;
const DURING = 20;

let nats: NatsCluster;
let endpoint: EndpointServer;
const nodes: ClusterNode[] = [];
let keysDir = "";

beforeAll(async () => {
  endpoint = startEndpointServer({ kind: "succeed" });
  nats = await startNatsServer();
  keysDir = mkdtempSync(join(tmpdir(), "haven-s4-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  for (const id of ["node-a", "node-b"]) {
    const proc = await startNodeProcess({
      echo: process.env.E2E_ECHO === "1",
      startTimeoutMs: 30_000,
      env: {
        ...FAST_TIMINGS,
        NATS_URL: nats.url,
        MEDIATOR_KEYS_FILE: keysFile,
        PUBLIC_URL: "http://haven.cluster.test",
        NODE_ID: id,
        PARTITIONS: String(PARTITIONS),
        NATS_REPLICAS: "1",
        ADMIN_TOKEN,
        BREAKER_FAILURE_THRESHOLD: String(THRESHOLD),
        DELIVERY_MAX_ATTEMPTS: "1",
        WEBHOOK_COALESCE_MS: "0",
        ...(process.env.E2E_LOG_LEVEL ? { LOG_LEVEL: process.env.E2E_LOG_LEVEL } : {}),
      },
    });
    nodes.push({ id, proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl } });
  }
  await waitFor("every partition served by exactly one node", () => ownershipSettled(nodes, PARTITIONS), 60_000);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(nodes.map((n) => n.proc.stop()));
  await nats?.stop();
  await endpoint?.stop();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
}, 60_000);

/**
 * Posts one forward until it is accepted (202). While NATS is failing the node may answer 503 (retryable, nothing
 * accepted) until its stores switch to their fallbacks; a client retries the same packed message, as a real one would.
 */
async function forwardRetrying(via: ClusterNode, m: Mailbox, sender: Agent, text: string): Promise<void> {
  const { packed } = await packVia(sender, m.did, text);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const reply = await sender.post(via.ref.url, packed);
    if (reply.status === 202) return;
    expect(reply.status).toBe(503);
    if (Date.now() > deadline) throw new Error(`forward via ${via.id} still refused after 30 s`);
    await new Promise((r) => setTimeout(r, 200)); // client back-off between retries of a refused request
  }
}

async function ownerMap(): Promise<Map<number, string>> {
  const owner = new Map<number, string>();
  for (const n of nodes) for (const o of (await clusterStatus(n)).owned) if (o.serving) owner.set(o.partition, n.id);
  expect(owner.size).toBe(PARTITIONS);
  return owner;
}

const queueOf = async (n: ClusterNode) => (await admin(n, "GET", "/admin/queue")).json;
const distinctKeys = () => new Set(endpoint.requests.map((r) => r.idempotencyKey));

describe("scenario 4: NATS killed mid-run", () => {
  test("delivery continues through the in-memory breaker, each event exactly once; after NATS returns the breaker is shared again", async () => {
    const mailboxes: Mailbox[] = [];
    for (let i = 0; i < MAILBOXES; i++) mailboxes.push(await mailboxWithWebhook(nodes[i % 2]!, `${endpoint.url}/hook/${i}`));
    const sender = new Agent();
    let sent = 0;
    const send = (count: number, pick: (i: number) => { via: ClusterNode; m: Mailbox }) =>
      pool(
        Array.from({ length: count }, (_, i) => pick(i)),
        8,
        ({ via, m }) => forwardRetrying(via, m, sender, `event ${sent++}`),
      );

    // 1. NATS up: the partition owners deliver from JetStream.
    // Every mailbox through both nodes: each node has looked its webhook up (and signed with its secret) before the
    // outage. A DID a node never looked up has no cached webhook there, so an outage costs that notification
    // (documented in src/node/webhook-cache.ts); this scenario is about what the pipeline owes once it knows.
    await send(BEFORE, (i) => ({ via: nodes[i % 2]!, m: mailboxes[Math.floor(i / 2) % MAILBOXES]! }));
    await waitFor(`${BEFORE} webhooks delivered`, () => endpoint.successes().length >= BEFORE, 30_000);
    for (const n of nodes) expect((await queueOf(n)).node.breaker_mode).toBe("shared");

    // 2. NATS killed: forwards are still accepted (journal and delivery outboxes) and their webhooks still go out.
    // Each goes through its mailbox's owner, which signed that mailbox's webhooks before (the signing secret lives
    // in KV; a node keeps the last one it read only as a fallback for such an outage).
    const ownerBefore = await ownerMap();
    const viaOwner = (m: Mailbox) => nodes.find((n) => n.id === ownerBefore.get(partitionOf(m.r.control.did, PARTITIONS)))!;
    await nats.servers[0]!.kill();
    await send(DURING, (i) => ({ via: viaOwner(mailboxes[i % MAILBOXES]!), m: mailboxes[i % MAILBOXES]! }));
    await waitFor(`${BEFORE + DURING} webhooks delivered while NATS is down`, () => endpoint.successes().length >= BEFORE + DURING, 60_000);
    expect(nats.servers[0]!.alive()).toBe(false);
    // Every node that accepted events during the outage dispatched them itself, through its in-memory breaker (a
    // node that accepted none made no breaker call, so it had no reason to leave shared mode). The ring decides which
    // nodes own the mailboxes, so this is one node or both. (GET /admin/queue needs the cluster DLQ, which is in NATS;
    // the breaker listing does not.)
    const dispatchers = new Set(mailboxes.map((m) => viaOwner(m)));
    expect(dispatchers.size).toBeGreaterThanOrEqual(1);
    for (const n of dispatchers) {
      const listing = (await admin(n, "GET", "/admin/breakers")).json;
      expect(listing.mode, `${n.id} during the outage: ${JSON.stringify(listing)}`).toBe("local");
    }

    // 3. NATS back: breakers reconcile into KV; nothing is left in any outbox, and nothing is sent again.
    const restartAtMs = performance.now();
    await nats.servers[0]!.restart();
    console.log(`recovery: NATS restart -> nats-server ready=${Math.round(performance.now() - restartAtMs)} ms`);
    // Waited for on both nodes at once, so each node's time is measured from the restart.
    await Promise.all([
      ...nodes.map(async (n) => {
        await waitFor(`${n.id}: breaker shared again and its queue empty`, async () => {
          const q = await queueOf(n);
          return q.node.breaker_mode === "shared" && q.pending === 0;
        }, 60_000);
        console.log(`recovery: NATS restart -> ${n.id} breaker shared again and its queue empty=${Math.round(performance.now() - restartAtMs)} ms`);
      }),
      // Measured only (the wait below asserts it): never throws, gives up after 60 s.
      (async () => {
        while (performance.now() - restartAtMs < 60_000) {
          if (await ownershipSettled(nodes, PARTITIONS).catch(() => false)) {
            console.log(`recovery: NATS restart -> every partition served by exactly one node=${Math.round(performance.now() - restartAtMs)} ms`);
            return;
          }
          await Bun.sleep(25);
        }
      })(),
    ]);
    await waitFor("every partition served by exactly one node again", () => ownershipSettled(nodes, PARTITIONS), 60_000);
    expect(endpoint.requests.length).toBe(BEFORE + DURING);
    expect(endpoint.successes().length).toBe(BEFORE + DURING);
    expect(distinctKeys().size).toBe(BEFORE + DURING);
    for (const r of endpoint.successes()) webhookOf(r);
    const delivered = (await Promise.all(nodes.map(queueOf))).reduce((a, q) => a + (q.node.outcomes.delivered ?? 0), 0);
    expect(delivered).toBe(BEFORE + DURING);

    // 4. Shared again: failures counted on node A and node B add up to one cluster-wide threshold.
    // The 6 mailboxes are random: all of them can hash to one node's partitions (p = 2 * 2^-6). Enrol more until
    // each node owns one (bounded).
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const owner = await ownerMap();
    const ownedBy = (id: string) => mailboxes.find((m) => owner.get(partitionOf(m.r.control.did, PARTITIONS)) === id);
    for (let i = 0; i < 40 && (ownedBy(a.id) === undefined || ownedBy(b.id) === undefined); i++) {
      mailboxes.push(await mailboxWithWebhook(nodes[i % 2]!, `${endpoint.url}/hook/extra-${i}`));
    }
    const mA = ownedBy(a.id);
    const mB = ownedBy(b.id);
    if (mA === undefined || mB === undefined) throw new Error(`need a mailbox owned by each node; owners: ${JSON.stringify([...owner])}`);
    endpoint.setMode({ kind: "fail", status: 503 });
    const base = endpoint.requests.length;
    await send(3, () => ({ via: a, m: mA }));
    await waitFor("3 failures through node A", () => endpoint.requests.length >= base + 3, 30_000);
    await waitFor("node A's 3 events dead-lettered (1 attempt each)", async () => ((await queueOf(a)).node.outcomes.dead_lettered ?? 0) >= 3, 30_000);
    await send(3, () => ({ via: b, m: mB }));
    await waitFor("breaker open as seen by node B", async () => {
      const s = (await admin(b, "GET", `/admin/breakers?destination=${encodeURIComponent(endpoint.url)}`)).json;
      return s.mode === "shared" && s.items[0]?.phase === "open";
    }, 30_000);
    await waitFor("node B's third event refused by the open breaker (deferred)", async () => ((await queueOf(b)).node.outcomes.deferred ?? 0) >= 1, 30_000);
    expect(endpoint.requests.length - base).toBe(THRESHOLD);
    expect(endpoint.failures().length).toBe(THRESHOLD);
    const qa = await queueOf(a);
    const qb = await queueOf(b);
    expect(qb.node.attempts.http_5xx ?? 0).toBe(THRESHOLD - 3);
    expect((qa.node.attempts.http_5xx ?? 0) + (qb.node.attempts.http_5xx ?? 0)).toBe(THRESHOLD);
    // Node A sees the same open record (one KV record, not two node-local ones).
    const sa = (await admin(a, "GET", `/admin/breakers?destination=${encodeURIComponent(endpoint.url)}`)).json;
    expect({ mode: sa.mode, phase: sa.items[0]?.phase, store: sa.items[0]?.store }).toEqual({ mode: "shared", phase: "open", store: "shared" });
  }, 240_000);
});
