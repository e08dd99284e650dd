// The forward path's webhook lookup: cached, bounded in time, and stale-if-error so a registry outage never blocks a forward.
import { describe, expect, test } from "bun:test";
import type { WebhookStore, WebhookView } from "../../src/delivery/webhook-store.ts";
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
