// Pure parts of the control plane: cache revision ordering and index, codec strictness, keys, memory guard, timeouts, options.
import { describe, expect, it } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { MediationCache, type CacheInput } from "../../src/controlplane/mediation-cache.ts";
import { decodeKeyOwner, decodeMediation, decodeReplay, encodeKeyOwner, encodeMediation, encodeReplay, MAX_VALUE_BYTES } from "../../src/controlplane/codec.ts";
import { mediationKey, recipientKey, replayKey } from "../../src/controlplane/keys.ts";
import { BoundedReplayMemory } from "../../src/controlplane/memory-replay.ts";
import { KvTimeoutError, withTimeout } from "../../src/controlplane/kv-call.ts";
import { FallbackBreaker } from "../../src/controlplane/breaker.ts";
import { resolveMediationOptions, resolveReplayOptions } from "../../src/controlplane/options.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { StorageError } from "../../src/storage/errors.ts";
import { MAX_KEY_CHARS } from "../../src/storage/validate.ts";

const owner = (clientDid: string, recipientDid: string, revision: number, operation: CacheInput["operation"] = "PUT"): CacheInput => ({
  key: recipientKey(recipientDid),
  revision,
  operation,
  value: operation === "PUT" ? encodeKeyOwner({ clientDid, recipientDid }) : new Uint8Array(),
});

describe("MediationCache", () => {
  it("applies only newer revisions, and a tombstone blocks a late older value", () => {
    const c = new MediationCache();
    expect(c.apply(owner("did:a", "did:k", 5), "watch")).toBe(true);
    expect(c.apply(owner("did:b", "did:k", 4), "call")).toBe(false);
    expect(c.owner(recipientKey("did:k"), "did:k")).toBe("did:a");
    expect(c.apply(owner("did:a", "did:k", 6, "DEL"), "watch")).toBe(true);
    expect(c.apply(owner("did:a", "did:k", 5), "call")).toBe(false); // stale read arriving late
    expect(c.owner(recipientKey("did:k"), "did:k")).toBeUndefined();
    expect(c.apply(owner("did:b", "did:k", 9), "watch")).toBe(true);
    expect(c.owner(recipientKey("did:k"), "did:k")).toBe("did:b");
    expect(c.revisionOf(recipientKey("did:k"))).toBe(9);
  });

  it("keeps the client -> keys index in step with ownership changes, sorted by code units", () => {
    const c = new MediationCache();
    for (const [k, rev] of [["did:k:b", 1], ["did:k:a", 2], ["did:k:\u{1F600}", 3], ["did:k:\uFFFF", 4]] as const) {
      c.apply(owner("did:a", k, rev), "watch");
    }
    expect(c.keysOf("did:a")).toEqual(["did:k:a", "did:k:b", "did:k:\uD83D\uDE00", "did:k:\uFFFF"]);
    c.apply(owner("did:b", "did:k:b", 10), "watch"); // moved to another client
    expect(c.keysOf("did:a")).toEqual(["did:k:a", "did:k:\uD83D\uDE00", "did:k:\uFFFF"]);
    expect(c.keysOf("did:b")).toEqual(["did:k:b"]);
    c.putOwner(recipientKey("did:k:b"), 11, null);
    expect(c.keysOf("did:b")).toEqual([]);
    expect(c.size).toEqual({ mediations: 0, keys: 3 });
  });

  it("treats a malformed value as a deletion and counts it; ignores keys that are not ours", () => {
    const c = new MediationCache();
    c.apply(owner("did:a", "did:k", 1), "watch");
    expect(c.apply({ key: recipientKey("did:k"), revision: 2, operation: "PUT", value: new Uint8Array([1, 2, 3]) }, "watch")).toBe(true);
    expect(c.owner(recipientKey("did:k"), "did:k")).toBeUndefined();
    expect(c.keysOf("did:a")).toEqual([]);
    expect(c.decodeErrors).toBe(1);
    expect(c.apply({ key: "x.y", revision: 3, operation: "PUT", value: new Uint8Array() }, "watch")).toBe(false);
  });

  it("never answers for a DID other than the one stored under the key", () => {
    const c = new MediationCache();
    const m = { clientDid: "did:a", routingDid: "did:r", grantedAtMs: 1 };
    // A foreign writer stored alice's record under bob's key.
    c.apply({ key: mediationKey("did:b"), revision: 1, operation: "PUT", value: encodeMediation(m) }, "watch");
    expect(c.mediation(mediationKey("did:b"), "did:b")).toBeUndefined();
    c.putMediation(mediationKey("did:a"), 2, m);
    const got = c.mediation(mediationKey("did:a"), "did:a")!;
    expect(got).toEqual(m);
    got.routingDid = "changed"; // copies out: callers cannot corrupt the cache
    expect(c.mediation(mediationKey("did:a"), "did:a")).toEqual(m);
  });

  it("notifies listeners of applied changes only", () => {
    const c = new MediationCache();
    const events: string[] = [];
    const off = c.onChange((e) => events.push(`${e.source}:${e.revision}:${e.deleted}`));
    c.apply(owner("did:a", "did:k", 2), "watch");
    c.apply(owner("did:a", "did:k", 1), "watch");
    c.putOwner(recipientKey("did:k"), 3, null);
    off();
    c.apply(owner("did:a", "did:k", 4), "watch");
    expect(events).toEqual(["watch:2:false", "call:3:true"]);
  });
});

describe("codec", () => {
  it("round-trips and rejects wrong versions, types, sizes", () => {
    const m = { clientDid: "did:a", routingDid: "did:r", grantedAtMs: 42 };
    expect(decodeMediation(encodeMediation(m))).toEqual(m);
    expect(decodeKeyOwner(encodeKeyOwner({ clientDid: "did:a", recipientDid: "did:k" }))).toEqual({ clientDid: "did:a", recipientDid: "did:k" });
    expect(decodeReplay(encodeReplay(123))).toBe(123);
    expect(decodeMediation(encode({ v: 2, c: "did:a", r: "did:r", g: 1 }))).toBeUndefined();
    expect(decodeMediation(encode({ v: 1, c: "did:a", r: "did:r", g: -1 }))).toBeUndefined();
    expect(decodeMediation(encode({ v: 1, c: "", r: "did:r", g: 1 }))).toBeUndefined();
    expect(decodeKeyOwner(encode({ v: 1, c: "did:a", k: 7 }))).toBeUndefined();
    expect(decodeReplay(encode([1, 2]))).toBeUndefined();
    expect(decodeReplay(new Uint8Array())).toBeUndefined();
    expect(decodeReplay(new Uint8Array(MAX_VALUE_BYTES + 1))).toBeUndefined();
    expect(decodeKeyOwner(encode({ v: 1, c: "did:a", k: "x".repeat(MAX_KEY_CHARS + 1) }))).toBeUndefined();
    // The largest legal value fits the bucket's value bound.
    const big = "\u{1F600}".repeat(MAX_KEY_CHARS / 2);
    expect(encodeKeyOwner({ clientDid: big, recipientDid: big }).byteLength).toBeLessThanOrEqual(MAX_VALUE_BYTES);
    expect(decodeKeyOwner(encodeKeyOwner({ clientDid: big, recipientDid: big }))).toEqual({ clientDid: big, recipientDid: big });
  });
});

describe("keys", () => {
  it("are fixed-length, subject-safe and keep sender/id splits apart", () => {
    const all = [mediationKey("did:a"), recipientKey("did:a"), replayKey("ab", "c"), replayKey("a", "bc"), replayKey("a|b", "c")];
    for (const k of all) expect(k).toMatch(/^[mkr]\.[A-Za-z0-9_-]{43}$/);
    expect(new Set(all).size).toBe(all.length);
    expect(mediationKey("x".repeat(MAX_KEY_CHARS)).length).toBe(45);
  });
});

describe("BoundedReplayMemory", () => {
  it("records, expires and evicts the oldest beyond the bound", () => {
    const m = new BoundedReplayMemory(3);
    expect(m.checkAndRecord("a", 0, 100)).toBe(true);
    expect(m.checkAndRecord("a", 99, 199)).toBe(false);
    expect(m.checkAndRecord("a", 100, 200)).toBe(true); // expired at 100
    expect(m.checkAndRecord("b", 100, 200)).toBe(true);
    expect(m.checkAndRecord("c", 100, 200)).toBe(true);
    expect(m.checkAndRecord("d", 100, 200)).toBe(true); // evicts "a"
    expect(m.size).toBe(3);
    expect(m.evictions).toBe(1);
    expect(m.seen("a", 100)).toBe(false);
    expect(m.seen("d", 100)).toBe(true);
    expect(m.checkAndRecord("e", 250, 300)).toBe(true); // b, c, d expired: dropped, not evicted
    expect(m.size).toBe(1);
    expect(m.evictions).toBe(1);
    expect(() => new BoundedReplayMemory(0)).toThrow(RangeError);
  });
});

describe("withTimeout and FallbackBreaker", () => {
  it("times out on the injected clock and ignores a late result", async () => {
    const clock = new ManualClock();
    let settle!: (v: string) => void;
    const p = withTimeout(clock, 100, () => new Promise<string>((r) => (settle = r)));
    clock.advance(99);
    clock.advance(1);
    await expect(p).rejects.toBeInstanceOf(KvTimeoutError);
    settle("late");
    expect(await withTimeout(clock, 100, async () => "ok")).toBe("ok");
    expect(clock.pendingTimers).toBe(0);
  });

  it("enters fallback after N consecutive failures, counts episodes, leaves on success", () => {
    const clock = new ManualClock();
    const b = new FallbackBreaker({ ...resolveMediationOptions({ clock, fallbackAfterFailures: 2 }), name: "t", probe: async () => {} });
    const modes: string[] = [];
    b.onModeChange((m) => modes.push(m));
    b.failure(new Error("x"));
    b.success(clock.monotonicMs()); // resets the streak
    b.failure(new Error("x"));
    expect(b.mode).toBe("normal");
    b.failure(new Error("x"));
    b.failure(new Error("x")); // still the same episode
    expect(b.triggered).toBe(1);
    clock.advance(500);
    expect(b.staleForMs()).toBe(500);
    b.success(clock.monotonicMs());
    expect(b.staleForMs()).toBe(0);
    expect(modes).toEqual(["fallback", "normal"]);
  });

  it("probes periodically on the clock", async () => {
    const clock = new ManualClock();
    let answer = false;
    const b = new FallbackBreaker({
      ...resolveMediationOptions({ clock, fallbackAfterFailures: 1, probeIntervalMs: 1000 }),
      name: "t",
      probe: async () => {
        if (!answer) throw new Error("down");
      },
    });
    b.start();
    await clock.advanceAsync(1000);
    expect(b.mode).toBe("fallback");
    answer = true;
    await clock.advanceAsync(1000);
    expect(b.mode).toBe("normal");
    b.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("options", () => {
  it("applies defaults and rejects out-of-range values", () => {
    expect(resolveMediationOptions()).toMatchObject({
      bucket: "haven_mediation",
      replicas: 3,
      kvTimeoutMs: 500,
      fallbackAfterFailures: 3,
      fallbackMaxStalenessMs: 30_000,
    });
    expect(resolveReplayOptions()).toMatchObject({ bucket: "haven_replay", replicas: 3 });
    for (const bad of [{ kvTimeoutMs: 0 }, { fallbackAfterFailures: 0 }, { replicas: 6 }, { bucket: "a.b" }, { fallbackMaxStalenessMs: 1.5 }]) {
      expect(() => resolveMediationOptions(bad)).toThrow(StorageError);
    }
    expect(() => resolveReplayOptions({ windowMs: 10 })).toThrow(StorageError);
  });
});
