// KvReplayGuard against a real nats-server: cluster-wide detection, logical expiry, memory fallback during an outage.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { KvReplayGuard } from "../../src/controlplane/index.ts";
import { rejectsWith } from "../storage/conformance.ts";
import { startNatsServer } from "../support/nats-cluster.ts";
import { connectNats, destroyBuckets, freshBucket, nextMode, nextStatus } from "./helpers.ts";

const nats = await startNatsServer();
const admin = await connectNats(nats.url);
afterAll(async () => {
  await admin.close();
  await nats.stop();
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function guard(url: string, opts: Parameters<typeof KvReplayGuard.open>[1]) {
  const nc = await connectNats(url);
  cleanup.push(() => nc.close());
  const g = await KvReplayGuard.open(nc, { replicas: 1, windowMs: 60_000, ...opts });
  cleanup.push(() => g.close());
  return { nc, guard: g };
}

describe("KvReplayGuard", () => {
  it("detects a replay arriving at another node, with logical expiry", async () => {
    const bucket = freshBucket("replay");
    cleanup.push(() => destroyBuckets(admin, [bucket]));
    const a = (await guard(nats.url, { bucket })).guard;
    const b = (await guard(nats.url, { bucket })).guard;
    expect(await a.checkAndRecord("did:s:1", "m1", 1000, 100)).toBe(true);
    expect(await b.checkAndRecord("did:s:1", "m1", 1050, 100)).toBe(false);
    expect(await b.checkAndRecord("did:s:1", "m1", 1100, 100)).toBe(true); // expired at 1100: re-recorded until 1200
    expect(await a.checkAndRecord("did:s:1", "m1", 1150, 100)).toBe(false);
    const both = await Promise.all([a.checkAndRecord("did:s:2", "x", 0, 100), b.checkAndRecord("did:s:2", "x", 0, 100)]);
    expect(both.filter(Boolean).length).toBe(1);
    expect(a.stats().memoryChecks + b.stats().memoryChecks).toBe(0);
  });

  it("refuses a ttl longer than the bucket window (the bucket TTL would forget the record early)", async () => {
    const bucket = freshBucket("replay");
    cleanup.push(() => destroyBuckets(admin, [bucket]));
    const g = (await guard(nats.url, { bucket, windowMs: 5000 })).guard;
    expect((await rejectsWith(g.checkAndRecord("s", "m", 0, 5001), "invalid_argument")).retryable).toBe(false);
    expect(await g.checkAndRecord("s", "m", 0, 5000)).toBe(true);
  });

  it("falls back to the bounded memory guard while NATS is down, and back to KV after", async () => {
    const server = await startNatsServer();
    cleanup.push(() => server.stop());
    const { nc, guard: g } = await guard(server.url, { bucket: "replay_fb", kvTimeoutMs: 150, fallbackAfterFailures: 2 });
    const { nc: otherNc, guard: other } = await guard(server.url, { bucket: "replay_fb" });
    expect(await g.checkAndRecord("did:s", "before", 0, 10_000)).toBe(true);

    const down = nextStatus(nc, "disconnect");
    await server.servers[0]!.stop();
    await down;
    const entered = nextMode(g, "fallback");
    // Each failed KV call is answered from memory; the 2nd enters fallback (then KV is not tried at all).
    expect(await g.checkAndRecord("did:s", "during", 10, 10_000)).toBe(true);
    expect(g.stats()).toMatchObject({ mode: "normal", consecutiveFailures: 1, memoryChecks: 1 });
    expect(await g.checkAndRecord("did:s", "during", 20, 10_000)).toBe(false);
    await entered;
    expect(g.stats()).toMatchObject({ mode: "fallback", edgeFallbackTriggered: 1, memoryChecks: 2 });
    expect(await g.checkAndRecord("did:s", "during2", 30, 10_000)).toBe(true);
    expect(await g.checkAndRecord("did:s", "during2", 40, 10_000)).toBe(false);
    expect(g.stats().memoryChecks).toBe(4);

    const left = nextMode(g, "normal");
    const otherBack = nextStatus(otherNc, "reconnect");
    await server.servers[0]!.restart();
    await left;
    await otherBack;
    // KV again: records made before the outage are still there, records made in memory still count here...
    expect(await g.checkAndRecord("did:s", "before", 50, 10_000)).toBe(false);
    expect(await g.checkAndRecord("did:s", "during", 50, 10_000)).toBe(false);
    expect(await g.checkAndRecord("did:s", "after", 50, 10_000)).toBe(true);
    expect(await other.checkAndRecord("did:s", "after", 60, 10_000)).toBe(false);
    // ...but were never in KV: the documented trade-off of the degraded mode.
    expect(await other.checkAndRecord("did:s", "during2", 60, 10_000)).toBe(true);
    expect(g.stats().memoryChecks).toBe(4);
  });

  it("rejects everything with closed after close", async () => {
    const bucket = freshBucket("replay");
    cleanup.push(() => destroyBuckets(admin, [bucket]));
    const g = (await guard(nats.url, { bucket })).guard;
    await g.close();
    await rejectsWith(g.checkAndRecord("s", "m", 0, 10), "closed");
  });
});
