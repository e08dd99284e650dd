// Delivery e2e support: real Haven node processes (single or a NATS cluster) with ADMIN_TOKEN, webhook registration, forwards that trigger events.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import { verifySignature } from "../../src/delivery/signing.ts";
import { Agent, type MediatorRef } from "../support/agent.ts";
import type { RecordedRequest } from "../support/endpoint-server.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { enrol, sendVia, type Recipient } from "../e2e/helpers.ts";
import { FAST_TIMINGS, ownershipSettled, waitFor, type ClusterNode } from "../cluster-e2e/harness.ts";

export const ADMIN_TOKEN = "delivery-e2e-admin-token-0123456789";
export const SECRET = "webhook-secret-0123456789abcdef";
export { waitFor };

export interface HavenNodes {
  readonly nodes: ClusterNode[];
  readonly nats: NatsCluster | null;
  readonly partitions: number;
  stop(): Promise<void>;
}

/** Seeded choice of nodes per forward; prints the seed (replay with SEED=...). */
export function seededRng(label: string): Rng {
  const seed = seedFromEnv();
  console.log(`[${label}] SEED=${seed}`);
  return new Rng(seed);
}

/** One single-node Haven (SQLite queue/DLQ/webhooks, in-memory breaker). */
export async function startSingle(env: Record<string, string> = {}): Promise<HavenNodes> {
  const proc = await startNodeProcess({ env: { ADMIN_TOKEN, ...env }, echo: process.env.E2E_ECHO === "1" });
  const node: ClusterNode = { id: "single", proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl } };
  return { nodes: [node], nats: null, partitions: 64, stop: () => proc.stop() };
}

/** N nodes on a 3-server NATS JetStream cluster, sharing one mediator identity; waits until ownership settled. */
export async function startCluster(n: number, env: Record<string, string> = {}, partitions = 16): Promise<HavenNodes> {
  const nats = await startNatsCluster({ servers: 3 });
  const keysDir = mkdtempSync(join(tmpdir(), "haven-delivery-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  await loadOrCreateIdentityFile(keysFile);
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.allSettled(nodes.map((x) => x.proc.stop()));
    await nats.stop();
    rmSync(keysDir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = `node-${String.fromCharCode(97 + i)}`;
        const proc: NodeProcess = await startNodeProcess({
          echo: process.env.E2E_ECHO === "1",
          startTimeoutMs: 30_000,
          env: {
            ...FAST_TIMINGS,
            NATS_URL: nats.urls.join(","),
            MEDIATOR_KEYS_FILE: keysFile,
            PUBLIC_URL: "http://haven.cluster.test",
            NODE_ID: id,
            PARTITIONS: String(partitions),
            NATS_REPLICAS: "3",
            ADMIN_TOKEN,
            // Debugging: E2E_LOG_LEVEL=info shows breaker transitions and store trouble (with E2E_ECHO=1).
            ...(process.env.E2E_LOG_LEVEL ? { LOG_LEVEL: process.env.E2E_LOG_LEVEL } : {}),
            ...env,
          },
        });
        return { id, proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl } };
      }),
    );
    nodes.push(...started);
    await waitFor("every partition served by exactly one node", () => ownershipSettled(nodes, partitions), 60_000);
    return { nodes, nats, partitions, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function admin(node: ClusterNode, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${node.proc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export interface Mailbox {
  readonly r: Recipient;
  /** The webhook's recipient DID (the inbox DID of the keylist). */
  readonly did: string;
}

/** Enrols a client (mediation + keylist) via `via` and registers its inbox DID's webhook via the admin API. */
export async function mailboxWithWebhook(via: ClusterNode, url: string): Promise<Mailbox> {
  const r = await enrol(via.ref);
  const put = await admin(via, "PUT", "/admin/webhooks", { recipient_did: r.inbox.did, url, secret: SECRET });
  expect(put.status).toBe(200);
  expect(JSON.stringify(put.json)).not.toContain(SECRET);
  return { r, did: r.inbox.did };
}

/** Sends one forward to `m` through `via`; asserts the 202 (accepted = message stored and its event queued). */
export async function forward(via: MediatorRef, m: Mailbox, sender: Agent, text: string): Promise<void> {
  const { reply } = await sendVia(via, sender, m.did, text);
  expect(reply.status).toBe(202);
}

/** Parses a recorded webhook request, checking its signature and that the body holds ids and counts only. */
export function webhookOf(req: RecordedRequest): { event_id: string; recipient_did: string; message_count: number } {
  expect(verifySignature(SECRET, req.body, req.headers["x-haven-signature"])).toBe(true);
  const body = JSON.parse(new TextDecoder().decode(req.body)) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["created_at", "event_id", "message_count", "recipient_did", "type"]);
  expect(body.event_id).toBe(req.idempotencyKey);
  return body as { event_id: string; recipient_did: string; message_count: number };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export { Agent };
