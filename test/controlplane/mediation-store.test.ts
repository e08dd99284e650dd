// KvMediationStore against a real nats-server: cache coherence across two nodes, fallback on outage and recovery, counters.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { KvMediationStore, mediationKey, recipientKey } from "../../src/controlplane/index.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { StorageError } from "../../src/storage/errors.ts";
import { startNatsServer } from "../support/nats-cluster.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { rejectsWith } from "../storage/conformance.ts";
import { connectNats, destroyBuckets, freshBucket, nextCacheEvent, nextMode, nextStatus } from "./helpers.ts";

const nats = await startNatsServer();
const admin = await connectNats(nats.url);
afterAll(async () => {
  await admin.close();
  await nats.stop();
});

const alice = "did:example:alice";
const bob = "did:example:bob";
const grantOf = (clientDid: string) => ({ clientDid, routingDid: "did:peer:routing", grantedAtMs: 7 });

// Everything opened by a test, closed after it whatever happened.
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function node(url: string, opts: Parameters<typeof KvMediationStore.open>[1]): Promise<{ nc: NatsConnection; store: KvMediationStore }> {
  const nc = await connectNats(url);
  cleanup.push(() => nc.close());
  const store = await KvMediationStore.open(nc, { replicas: 1, ...opts });
  cleanup.push(() => store.close());
  return { nc, store };
}

function bucket(): string {
  const b = freshBucket("med");
  cleanup.push(() => destroyBuckets(admin, [b]));
  return b;
}

describe("cache coherence across nodes", () => {
  it("a key added on node A is seen by node B through the watch, then its removal", async () => {
    const b = bucket();
    const a = (await node(nats.url, { bucket: b })).store;
    const other = (await node(nats.url, { bucket: b })).store;
    const kk = recipientKey("did:key:k1");

    const granted = nextCacheEvent(other, (e) => e.key === mediationKey(alice) && e.source === "watch");
    const added = nextCacheEvent(other, (e) => e.key === kk && e.source === "watch" && !e.deleted);
    await a.grant(grantOf(alice));
    expect(await a.addKey(alice, "did:key:k1")).toBe("success");
    await granted;
    await added;

    const before = other.stats();
    expect(await other.ownerOf("did:key:k1")).toBe(alice);
    expect(await other.get(alice)).toEqual(grantOf(alice));
    expect(await other.listKeys(alice, { offset: 0, limit: 10 })).toEqual({ keys: ["did:key:k1"], total: 1 });
    const after = other.stats();
    // Served from B's cache: no KV round trip.
    expect(after.cacheHits).toBe(before.cacheHits + 3);
    expect(after.cacheMisses).toBe(before.cacheMisses);
    expect(after).toMatchObject({ mode: "normal", cachedMediations: 1, cachedKeys: 1, watchReady: true });

    const removed = nextCacheEvent(other, (e) => e.key === kk && e.source === "watch" && e.deleted);
    expect(await a.removeKey(alice, "did:key:k1")).toBe("success");
    await removed;
    expect(await other.ownerOf("did:key:k1")).toBeUndefined();
    expect(await other.listKeys(alice, { offset: 0, limit: 10 })).toEqual({ keys: [], total: 0 });
    // B can now take the key over for another client, and A learns it.
    const takenOver = nextCacheEvent(a, (e) => e.key === kk && e.source === "watch" && !e.deleted);
    await other.grant(grantOf(bob));
    expect(await other.addKey(bob, "did:key:k1")).toBe("success");
    await takenOver;
    expect(await a.ownerOf("did:key:k1")).toBe(bob);
  });

  it("gives a key contended from two nodes to exactly one client; both nodes agree", async () => {
    const b = bucket();
    const a = (await node(nats.url, { bucket: b })).store;
    const other = (await node(nats.url, { bucket: b })).store;
    await a.grant(grantOf(alice));
    await other.grant(grantOf(bob));
    await other.get(alice); // a miss or a hit, either way B now knows alice's grant
    const results = await Promise.all([a.addKey(alice, "did:key:z"), other.addKey(bob, "did:key:z")]);
    expect([...results].sort()).toEqual(["conflict", "success"]);
    const winner = results[0] === "success" ? alice : bob;
    expect(await a.ownerOf("did:key:z")).toBe(winner);
    expect(await other.ownerOf("did:key:z")).toBe(winner);
  });

  it("loads existing entries at open and counts a cold read as a miss", async () => {
    const b = bucket();
    const a = (await node(nats.url, { bucket: b })).store;
    await a.grant(grantOf(alice));
    await a.addKey(alice, "did:key:cold");
    const late = (await node(nats.url, { bucket: b })).store;
    expect(late.stats()).toMatchObject({ cachedMediations: 1, cachedKeys: 1, cacheHits: 0, cacheMisses: 0 });
    expect(await late.ownerOf("did:key:cold")).toBe(alice);
    expect(late.stats()).toMatchObject({ cacheHits: 1, cacheMisses: 0, cacheMissRate: 0 });
  });

  it("ignores foreign or malformed values and counts them", async () => {
    const b = bucket();
    const a = (await node(nats.url, { bucket: b })).store;
    await a.grant(grantOf(alice));
    await a.addKey(alice, "did:key:x");
    const kv = await new Kvm(admin).open(b);
    const corrupted = nextCacheEvent(a, (e) => e.key === recipientKey("did:key:x") && e.source === "watch");
    await kv.put(recipientKey("did:key:x"), new Uint8Array([0xc1, 0xff])); // not msgpack
    await kv.put("junk.key", new TextEncoder().encode("hello")); // not one of our prefixes
    await corrupted;
    expect(await a.ownerOf("did:key:x")).toBeUndefined();
    expect(a.stats().decodeErrors).toBe(1);
  });
});

describe("fallback mode", () => {
  it("enters after N failures, serves cache up to the staleness bound, refuses older, leaves when NATS is back", async () => {
    const server = await startNatsServer();
    cleanup.push(() => server.stop());
    const clock = new ManualClock();
    const { nc, store } = await node(server.url, {
      bucket: "fallback_test",
      clock,
      kvTimeoutMs: 200,
      fallbackAfterFailures: 3,
      fallbackMaxStalenessMs: 30_000,
      probeIntervalMs: 1000,
    });
    await store.grant(grantOf(alice));
    await store.addKey(alice, "did:key:f1");
    expect(await store.ownerOf("did:key:f1")).toBe(alice); // fresh: a hit
    const syncedHits = store.stats().cacheHits;

    const disconnected = nextStatus(nc, "disconnect");
    await server.servers[0]!.stop();
    await disconnected;
    // The store's status iterator was created before ours, so its listener ran first in the same
    // dispatch; one more turn for good measure before counting failures.
    await Promise.resolve();

    // Not connected: the cache is not fresh, reads go to KV and fail (retryably) until the Nth failure.
    for (let i = 1; i < 3; i++) {
      const err = await rejectsWith(store.ownerOf("did:key:f1"), "unavailable");
      expect(err.retryable).toBe(true);
      expect(store.stats()).toMatchObject({ mode: "normal", consecutiveFailures: i, edgeFallbackTriggered: 0 });
    }
    const entered = nextMode(store, "fallback");
    expect(await store.ownerOf("did:key:f1")).toBe(alice); // the 3rd failure enters fallback and is answered from cache
    await entered;
    expect(store.stats()).toMatchObject({ mode: "fallback", edgeFallbackTriggered: 1, cacheMisses: 3 });
    expect(store.health().ok).toBe(false);

    // Positive cached reads within the staleness bound; a negative answer is not final while the cache may be stale
    // (the key may have been granted elsewhere), so it is refused retryably; writes refused retryably.
    clock.advance(30_000);
    expect(await store.ownerOf("did:key:f1")).toBe(alice);
    expect((await rejectsWith(store.ownerOf("did:key:never"), "unavailable")).retryable).toBe(true);
    expect(await store.get(alice)).toEqual(grantOf(alice));
    expect(await store.listKeys(alice, { offset: 0, limit: 5 })).toEqual({ keys: ["did:key:f1"], total: 1 });
    expect(store.stats().cacheHits).toBe(syncedHits + 4);
    for (const write of [store.grant(grantOf(bob)), store.addKey(alice, "did:key:f2"), store.removeKey(alice, "did:key:f1")]) {
      expect((await rejectsWith(write, "unavailable")).retryable).toBe(true);
    }

    // One millisecond past the bound: refused, retryably.
    clock.advance(1);
    for (const read of [store.ownerOf("did:key:f1"), store.get(alice), store.listKeys(alice, { offset: 0, limit: 5 })]) {
      const err = await rejectsWith(read, "unavailable");
      expect(err.retryable).toBe(true);
    }
    expect(store.stats().edgeFallbackTriggered).toBe(1); // still the same episode

    // NATS back: the reconnect triggers a probe, which leaves fallback; reads and writes work again.
    const left = nextMode(store, "normal");
    await server.servers[0]!.restart();
    await left;
    expect(store.stats()).toMatchObject({ mode: "normal", consecutiveFailures: 0 });
    expect(await store.ownerOf("did:key:f1")).toBe(alice);
    expect(await store.addKey(alice, "did:key:f2")).toBe("success");
    expect(store.health().ok).toBe(true);

    // The watch survived the restart: a write from another node reaches this cache.
    const other = (await node(server.url, { bucket: "fallback_test" })).store;
    const seen = nextCacheEvent(store, (e) => e.key === recipientKey("did:key:f3") && e.source === "watch");
    await other.addKey(alice, "did:key:f3");
    await seen;
    const hits = store.stats().cacheHits;
    expect(await store.ownerOf("did:key:f3")).toBe(alice);
    expect(store.stats().cacheHits).toBe(hits + 1);
  });

  it("detects a silent outage (blackholed link) with the probe and recovers when it heals", async () => {
    const proxy = FaultProxy.start({ target: nats.url });
    cleanup.push(async () => proxy.close());
    const clock = new ManualClock();
    const { store } = await node(proxy.url, {
      bucket: bucket(),
      clock,
      kvTimeoutMs: 150,
      fallbackAfterFailures: 2,
      fallbackMaxStalenessMs: 10_000,
    });
    await store.grant(grantOf(alice));
    await store.addKey(alice, "did:key:b1");

    proxy.blackhole();
    // The connection looks up, so reads keep hitting the cache; only the probe notices.
    expect(await store.ownerOf("did:key:b1")).toBe(alice);
    expect(await store.probe()).toBe(false);
    expect(store.mode).toBe("normal");
    expect(await store.probe()).toBe(false);
    expect(store.stats()).toMatchObject({ mode: "fallback", edgeFallbackTriggered: 1 });
    expect(await store.ownerOf("did:key:b1")).toBe(alice);
    await rejectsWith(store.addKey(alice, "did:key:b2"), "unavailable");
    clock.advance(10_001);
    await rejectsWith(store.ownerOf("did:key:b1"), "unavailable");

    proxy.pass();
    expect(await store.probe()).toBe(true);
    expect(store.stats()).toMatchObject({ mode: "normal", consecutiveFailures: 0 });
    expect(await store.addKey(alice, "did:key:b2")).toBe("success");
    expect(await store.ownerOf("did:key:b1")).toBe(alice);
  });

  it("open fails retryably when the bucket cannot be reached", async () => {
    const proxy = FaultProxy.start({ target: nats.url });
    cleanup.push(async () => proxy.close());
    const nc = await connectNats(proxy.url);
    cleanup.push(() => nc.close());
    proxy.blackhole();
    const err = await KvMediationStore.open(nc, { bucket: bucket(), replicas: 1, kvTimeoutMs: 100 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe("unavailable");
    expect((err as StorageError).retryable).toBe(true);
  });
});
