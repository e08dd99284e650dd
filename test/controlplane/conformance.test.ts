// Runs the storage conformance suite with the KV control plane as mediations + replay (messages: the memory driver).
import { afterAll } from "bun:test";
import { KvMediationStore, KvReplayGuard } from "../../src/controlplane/index.ts";
import { createMemoryDriver } from "../../src/storage/index.ts";
import type { StorageDriver } from "../../src/storage/index.ts";
import { startNatsServer } from "../support/nats-cluster.ts";
import { storageConformance } from "../storage/conformance.ts";
import { connectNats, destroyBuckets, freshBucket } from "./helpers.ts";

const nats = await startNatsServer();
const nc = await connectNats(nats.url);
afterAll(async () => {
  await nc.close();
  await nats.stop();
});

// The suite takes a whole StorageDriver; only its mediations and replay parts exercise our code.
storageConformance("nats kv control plane", async (): Promise<StorageDriver> => {
  const memory = createMemoryDriver();
  const buckets = [freshBucket("conf_m"), freshBucket("conf_r")];
  const mediations = await KvMediationStore.open(nc, { bucket: buckets[0], replicas: 1 });
  const replay = await KvReplayGuard.open(nc, { bucket: buckets[1], replicas: 1, windowMs: 60_000 });
  let closed = false;
  return {
    name: "nats-kv",
    messages: memory.messages,
    mediations,
    replay,
    async health() {
      const [m, s] = [mediations.health(), await memory.health()];
      return { ok: !closed && m.ok && s.ok, detail: `${m.detail}; ${s.detail}` };
    },
    async close() {
      await memory.close();
      await mediations.close();
      await replay.close();
      if (!closed) await destroyBuckets(nc, buckets);
      closed = true;
    },
  };
});
