// The forward path's webhook lookup: cached, bounded in time, and stale-if-error so a registry outage never blocks a forward; the signing secret's last-read fallback.
import { describe, expect, test } from "bun:test";
import type { WebhookStore, WebhookView } from "../../src/delivery/webhook-store.ts";
import { Secret } from "../../src/config/secret.ts";
import { CachedWebhookStore } from "../../src/node/webhook-cache.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

const view: WebhookView = { recipientDid: "did:example:bob", url: "https://hooks.example/bob", createdAtMs: 1, updatedAtMs: 1 };

/** A unit fake of the registry: answers, fails or never answers, on command. */
function fakeStore(): { store: WebhookStore; mode: "ok" | "fail" | "hang"; calls: number } {
  const state = { mode: "ok" as "ok" | "fail" | "hang", calls: 0, store: undefined as unknown as WebhookStore };
  state.store = {
    get: async (did: string) => {
      state.calls++;
      if (state.mode === "fail") throw new Error("registry unreachable");
      if (state.mode === "hang") return new Promise<WebhookView | null>(() => {});
      return did === view.recipientDid ? view : null;
    },
    put: async () => view,
    delete: async () => true,
    list: async () => ({ items: [], next: null }),
    resolveSecret: async () => null,
  };
  return state;
}

describe("CachedWebhookStore", () => {
  test("serves from cache within the TTL and refreshes after it", async () => {
    const clock = new ManualClock();
    const f = fakeStore();
    const c = new CachedWebhookStore(f.store, { ttlMs: 1000, clock });
    expect(await c.get(view.recipientDid)).toEqual(view);
    expect(await c.get(view.recipientDid)).toEqual(view);
    expect(f.calls).toBe(1);
    clock.advance(1001);
    expect(await c.get(view.recipientDid)).toEqual(view);
    expect(f.calls).toBe(2);
  });

  test("a failing registry serves the stale answer, or 'none' when there is none, and counts the failures", async () => {
    const clock = new ManualClock();
    const f = fakeStore();
    const c = new CachedWebhookStore(f.store, { ttlMs: 1000, clock });
    expect(await c.get(view.recipientDid)).toEqual(view);
    clock.advance(5000);
    f.mode = "fail";
    expect(await c.get(view.recipientDid)).toEqual(view);
    expect(await c.get("did:example:never-seen")).toBeNull();
    expect(c.lookupFailures).toBe(2);
  });

  test("after a failed lookup the fallback is served for a while without asking again (no timeout paid per forward)", async () => {
    const clock = new ManualClock();
    const f = fakeStore();
    const c = new CachedWebhookStore(f.store, { ttlMs: 2000, clock });
    expect(await c.get(view.recipientDid)).toEqual(view);
    clock.advance(5000);
    f.mode = "fail";
    expect(await c.get(view.recipientDid)).toEqual(view); // asks, fails, serves the stale answer
    const asked = f.calls;
    clock.advance(500);
    expect(await c.get(view.recipientDid)).toEqual(view); // within the retry interval: not asked
    expect(f.calls).toBe(asked);
    clock.advance(600);
    f.mode = "ok";
    expect(await c.get(view.recipientDid)).toEqual(view); // past it: asked again
    expect(f.calls).toBe(asked + 1);
    expect(c.lookupFailures).toBe(1);
  });

  test("the cache is bounded by its DIDs' total characters: the oldest are asked again, the newest are not", async () => {
    // Long DIDs (did:peer:2 runs to ~600 chars) must not pin memory per mailbox: 3 DIDs of 400 chars fit in 1000.
    const f = fakeStore();
    const c = new CachedWebhookStore(f.store, { ttlMs: 60_000, clock: new ManualClock(), maxKeyChars: 1000 });
    const dids = [0, 1, 2, 3].map((i) => `did:example:${String(i).repeat(388)}`);
    expect(dids.every((d) => d.length === 400)).toBe(true);
    for (const d of dids) await c.get(d);
    expect(f.calls).toBe(4);
    expect(c.peek(dids[0]!)).toBeUndefined(); // evicted: 4 x 400 > 1000
    expect(c.peek(dids[1]!)).toBeUndefined();
    expect(c.peek(dids[2]!)).toBeNull(); // cached "no webhook"
    expect(c.peek(dids[3]!)).toBeNull();
    await c.get(dids[3]!);
    expect(f.calls).toBe(4);
    // A key longer than the whole budget is not cached (it would evict everything) but still answered.
    const huge = `did:example:${"x".repeat(2000)}`;
    expect(await c.get(huge)).toBeNull();
    expect(c.peek(huge)).toBeUndefined();
    expect(c.peek(dids[3]!)).toBeNull();
  });

  test("bounds are validated", () => {
    const f = fakeStore();
    expect(() => new CachedWebhookStore(f.store, { ttlMs: 1, clock: new ManualClock(), maxKeyChars: 0 })).toThrow(RangeError);
    expect(() => new CachedWebhookStore(f.store, { ttlMs: 1, clock: new ManualClock(), maxEntries: 0 })).toThrow(RangeError);
  });

  test("a hanging registry is cut off after lookupTimeoutMs", async () => {
    const clock = new ManualClock();
    const f = fakeStore();
    const c = new CachedWebhookStore(f.store, { ttlMs: 1000, clock, lookupTimeoutMs: 250 });
    f.mode = "hang";
    const pending = c.get(view.recipientDid);
    clock.advance(250);
    expect(await pending).toBeNull();
    expect(c.lookupFailures).toBe(1);
  });
});

describe("CachedWebhookStore secret fallback", () => {
  /** A registry whose resolveSecret answers from `secrets` or fails while `down`. */
  function secretStore() {
    const s = { down: false, calls: 0, secrets: new Map<string, string | null>([[view.recipientDid, "secret-one-0123456789abcdef"]]), store: undefined as unknown as WebhookStore };
    s.store = {
      ...fakeStore().store,
      put: async (w) => {
        s.secrets.set(w.recipientDid, w.secret);
        return view;
      },
      delete: async (did) => s.secrets.delete(did),
      resolveSecret: async (did) => {
        s.calls++;
        if (s.down) throw new Error("registry unreachable");
        const v = s.secrets.get(did) ?? null;
        return v === null ? null : new Secret(v);
      },
    };
    return s;
  }

  test("the store is always asked first: a rotated secret is used at once, not the remembered one", async () => {
    const s = secretStore();
    const c = new CachedWebhookStore(s.store, { ttlMs: 60_000, clock: new ManualClock() });
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-one-0123456789abcdef");
    s.secrets.set(view.recipientDid, "secret-two-0123456789abcdef");
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-two-0123456789abcdef");
    expect(s.calls).toBe(2);
    expect(c.lookupFailures).toBe(0);
  });

  test("registry unreachable: the last secret read is used (and counted); a DID never read fails as before", async () => {
    const s = secretStore();
    s.secrets.set("did:example:none", null);
    const c = new CachedWebhookStore(s.store, { ttlMs: 60_000, clock: new ManualClock() });
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-one-0123456789abcdef");
    expect(await c.resolveSecret("did:example:none")).toBeNull();
    s.down = true;
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-one-0123456789abcdef");
    // A remembered "no secret" stays "no secret" (the webhook was gone): the event is cancelled, not signed.
    expect(await c.resolveSecret("did:example:none")).toBeNull();
    expect(c.lookupFailures).toBe(2);
    await expect(c.resolveSecret("did:example:never-read")).rejects.toThrow("registry unreachable");
    expect(c.lookupFailures).toBe(2);
    // Back: the store answers again and is believed over the fallback.
    s.down = false;
    s.secrets.set(view.recipientDid, "secret-three-0123456789abcdef");
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-three-0123456789abcdef");
  });

  test("a delete or put through this node drops the fallback: a deleted webhook's secret is never used again", async () => {
    const s = secretStore();
    const c = new CachedWebhookStore(s.store, { ttlMs: 60_000, clock: new ManualClock() });
    expect(await c.resolveSecret(view.recipientDid)).not.toBeNull();
    expect(await c.delete(view.recipientDid)).toBe(true);
    s.down = true;
    await expect(c.resolveSecret(view.recipientDid)).rejects.toThrow("registry unreachable");

    s.down = false;
    await c.put({ recipientDid: view.recipientDid, url: view.url, secret: "secret-new-0123456789abcdef" });
    expect((await c.resolveSecret(view.recipientDid))?.reveal()).toBe("secret-new-0123456789abcdef");
    await c.put({ recipientDid: view.recipientDid, url: view.url, secret: "secret-newer-0123456789abcdef" });
    s.down = true;
    await expect(c.resolveSecret(view.recipientDid)).rejects.toThrow("registry unreachable");
  });

  test("the fallback is bounded by maxEntries (oldest forgotten first)", async () => {
    const s = secretStore();
    for (const d of ["a", "b", "c"]) s.secrets.set(`did:example:${d}`, `secret-${d}-0123456789abcdef`);
    const c = new CachedWebhookStore(s.store, { ttlMs: 60_000, clock: new ManualClock(), maxEntries: 2 });
    for (const d of ["a", "b", "c"]) await c.resolveSecret(`did:example:${d}`);
    s.down = true;
    await expect(c.resolveSecret("did:example:a")).rejects.toThrow("registry unreachable");
    expect((await c.resolveSecret("did:example:b"))?.reveal()).toBe("secret-b-0123456789abcdef");
    expect((await c.resolveSecret("did:example:c"))?.reveal()).toBe("secret-c-0123456789abcdef");
  });
});
