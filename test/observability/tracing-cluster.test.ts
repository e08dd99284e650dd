// Real cluster (3 NATS servers, 3 node processes) exporting to one OTLP receiver: a forward accepted by a non-owner
// node yields receive/unpack/journal/replicate there and store on the owner, all in the caller's trace, without DIDs or contents.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { partitionOf } from "../../src/cluster/partition.ts";
import { loadOrCreateIdentityFile } from "../../src/didcomm/identity/index.ts";
import { newSpanId, newTraceId } from "../../src/observability/trace-context.ts";
import { FAST_TIMINGS, ownershipSettled, servingNode, waitFor, type ClusterNode } from "../cluster-e2e/harness.ts";
import { enrol, packVia, status } from "../e2e/helpers.ts";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts";
import { startNodeProcess } from "../support/node-process.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./otlp-receiver.ts";

const NODES = 3;
const PARTITIONS = 16;
const SERVICE_NAME = "haven-cluster-trace-test";

/** startTestCluster (harness.ts) plus the OTEL_* variables; stop() is idempotent so the test can flush by stopping. */
interface TracedCluster {
  nodes: ClusterNode[];
  keysFile: string;
  stop(): Promise<void>;
}

async function startTracedCluster(otlpUrl: string): Promise<TracedCluster> {
  let nats: NatsCluster | undefined;
  const keysDir = mkdtempSync(join(tmpdir(), "haven-trace-keys-"));
  const keysFile = join(keysDir, "mediator-keys.json");
  const nodes: ClusterNode[] = [];
  let stopped: Promise<void> | undefined;
  const cluster: TracedCluster = {
    nodes,
    keysFile,
    stop() {
      // SIGTERM lets each node shut its exporter down, which exports what is still queued.
      stopped ??= (async () => {
        await Promise.allSettled(nodes.map((n) => n.proc.stop()));
        await nats?.stop();
        rmSync(keysDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  try {
    await loadOrCreateIdentityFile(keysFile);
    nats = await startNatsCluster({ servers: 3 });
    const urls = nats.urls.join(",");
    const started = await Promise.all(
      Array.from({ length: NODES }, async (_, i) => {
        const id = `node-${String.fromCharCode(97 + i)}`;
        const proc = await startNodeProcess({
          startTimeoutMs: 60_000,
          env: {
            ...FAST_TIMINGS,
            NATS_URL: urls,
            MEDIATOR_KEYS_FILE: keysFile,
            PUBLIC_URL: "http://haven.cluster.test",
            NODE_ID: id,
            PARTITIONS: String(PARTITIONS),
            NATS_REPLICAS: "3",
            OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
            OTEL_SERVICE_NAME: SERVICE_NAME,
          },
        });
        return { id, proc, ref: { url: proc.url, did: proc.did, wsUrl: proc.wsUrl } };
      }),
    );
    nodes.push(...started);
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/** Every string of at least `minChars` in a JSON document (key material, ciphertexts). */
function longStrings(json: unknown, minChars = 16): string[] {
  if (typeof json === "string") return json.length >= minChars ? [json] : [];
  if (Array.isArray(json)) return json.flatMap((v) => longStrings(v, minChars));
  if (json !== null && typeof json === "object") return Object.values(json).flatMap((v) => longStrings(v, minChars));
  return [];
}

let receiver: OtlpReceiver;
let cluster: TracedCluster;

beforeAll(async () => {
  receiver = startOtlpReceiver();
  cluster = await startTracedCluster(receiver.url);
  await waitFor("every partition served by exactly one node", () => ownershipSettled(cluster.nodes, PARTITIONS), 60_000);
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
  receiver?.stop();
}, 60_000);

describe("OpenTelemetry across the cluster", () => {
  test("a forward accepted by a non-owner: receive/unpack/journal/replicate there, store on the owner, one trace", async () => {
    const r = await enrol(cluster.nodes[0]!.ref);
    const owner = await servingNode(cluster.nodes, partitionOf(r.control.did, PARTITIONS));
    if (owner === undefined) throw new Error("no single owner for the mailbox's partition");
    const [accepting, bystander] = cluster.nodes.filter((n) => n !== owner);
    if (accepting === undefined || bystander === undefined) throw new Error("expected three nodes");

    const traceId = newTraceId();
    const callerSpan = newSpanId();
    const content = `trace-secret-content-${newSpanId()}`;
    const { packed } = await packVia(new Agent(), r.inbox.did, content);
    const res = await fetch(accepting.proc.url, { method: "POST", headers: { "content-type": ENCRYPTED, traceparent: `00-${traceId}-${callerSpan}-01` }, body: packed });
    expect(res.status).toBe(202);

    const inTrace = (): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === traceId);
    const from = (node: ClusterNode, name: string): ReceivedSpan | undefined => inTrace().find((s) => s.name === name && s.resource["service.instance.id"] === node.id);
    const wanted: [ClusterNode, string][] = [
      [accepting, "receive"],
      [accepting, "unpack"],
      [accepting, "journal"],
      [accepting, "replicate"],
      [owner, "store"],
    ];
    const exportedSoFar = () => inTrace().map((s) => `${s.resource["service.instance.id"]}:${s.name}`).join(", ");
    try {
      await waitFor("receive/unpack/journal/replicate from the accepting node and store from the owner", () => wanted.every(([n, name]) => from(n, name) !== undefined), 30_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}; spans in the trace: [${exportedSoFar()}] (accepting ${accepting.id}, owner ${owner.id})`);
    }
    // The message really is on the owner (the store span is not just an attempt).
    await waitFor("the owner counts the message", async () => (await status(owner.ref, r)).message_count === 1, 20_000);

    const receive = from(accepting, "receive")!;
    const unpack = from(accepting, "unpack")!;
    const journal = from(accepting, "journal")!;
    const replicate = from(accepting, "replicate")!;
    const store = from(owner, "store")!;
    expect(receive.parentSpanId).toBe(callerSpan); // continues the caller's traceparent
    expect(unpack.parentSpanId).toBe(receive.spanId);
    expect(journal.parentSpanId).toBe(receive.spanId); // cluster mode: local journal + JetStream publish
    expect(replicate.parentSpanId).toBe(journal.spanId);
    expect(store.parentSpanId).toBe(replicate.spanId); // crossed NATS in the record's traceparent header
    for (const s of [receive, unpack, journal, replicate, store]) expect(s.resource["service.name"]).toBe(SERVICE_NAME);

    const keys = longStrings(JSON.parse(readFileSync(cluster.keysFile, "utf8"))); // read before stop() removes it
    // Stopping the nodes exports whatever is still queued; then the whole trace and every body can be checked.
    await cluster.stop();
    const counts = new Map<string, number>();
    for (const s of inTrace()) counts.set(`${s.resource["service.instance.id"]}:${s.name}`, (counts.get(`${s.resource["service.instance.id"]}:${s.name}`) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({
      [`${accepting.id}:receive`]: 1,
      [`${accepting.id}:unpack`]: 1,
      [`${accepting.id}:journal`]: 1,
      [`${accepting.id}:replicate`]: 1,
      [`${owner.id}:store`]: 1,
    }); // the bystander node never touched this message, and the owner applied it once
    const spanIds = new Set(inTrace().map((s) => s.spanId));
    expect(spanIds.size).toBe(5);

    const all = receiver.bodies.join("\n");
    expect(receiver.bodies.length).toBeGreaterThan(0);
    expect(all).not.toContain("did:");
    expect(all).not.toContain(content);
    expect(all).not.toContain(r.inbox.did.slice("did:".length));
    expect(all).not.toContain(r.control.did.slice("did:".length));
    // Neither the cluster's key material nor any part of the packed envelope (ciphertext, iv, tag, keys).
    const envelope = longStrings(JSON.parse(packed));
    expect(keys.length).toBeGreaterThan(0);
    expect(envelope.length).toBeGreaterThan(0);
    for (const secret of [...keys, ...envelope]) expect(all.includes(secret)).toBe(false);
  }, 120_000);
});
