// WebhookStore contract, run against SQLite and NATS KV: validation, upsert, paging, delete, secrets only via resolveSecret.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { inspect } from "node:util";
import { DeliveryError, KvWebhookStore, SqliteWebhookStore, type WebhookStore } from "../../src/delivery/index.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { connectNats, freshBucket } from "./helpers.ts";

let nats: NatsCluster;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connectNats(nats.url);
});
afterAll(async () => {
  await nc?.close().catch(() => {});
  await nats?.stop();
});

const SECRET = "s3cret-value-0123456789";

const impls: Array<[string, (clock: ManualClock) => Promise<WebhookStore>]> = [
  ["sqlite", async (clock) => new SqliteWebhookStore({ path: ":memory:", clock })],
  ["nats kv", (clock) => KvWebhookStore.open(nc, { bucket: freshBucket("webhooks"), replicas: 1, clock })],
];

for (const [name, make] of impls) {
  describe(`WebhookStore (${name})`, () => {
    test("put upserts, get/list never carry the secret, resolveSecret does (wrapped)", async () => {
      const clock = new ManualClock({ startMs: 1_000 });
      const s = await make(clock);
      const v1 = await s.put({ recipientDid: "did:example:alice", url: "https://hooks.example/a", secret: SECRET });
      expect(v1).toEqual({ recipientDid: "did:example:alice", url: "https://hooks.example/a", createdAtMs: 1_000, updatedAtMs: 1_000 });
      clock.advance(500);
      const v2 = await s.put({ recipientDid: "did:example:alice", url: "http://hooks.example:8080/b", secret: SECRET + "x" });
      expect(v2.createdAtMs).toBe(1_000);
      expect(v2.updatedAtMs).toBe(1_500);
      const got = await s.get("did:example:alice");
      expect(got).toEqual(v2);
      expect(JSON.stringify(got)).not.toContain(SECRET);
      const secret = await s.resolveSecret("did:example:alice");
      expect(secret?.reveal()).toBe(SECRET + "x");
      expect(JSON.stringify({ secret })).not.toContain(SECRET);
      expect(inspect(secret)).not.toContain(SECRET);
      expect(await s.resolveSecret("did:example:nobody")).toBeNull();
      expect(await s.get("did:example:nobody")).toBeNull();
    });

    test("validation: DID, http(s) URL without credentials, secret length", async () => {
      const s = await make(new ManualClock());
      const bad = [
        { recipientDid: "alice", url: "https://h.example/", secret: SECRET },
        { recipientDid: "did:example:a", url: "ftp://h.example/", secret: SECRET },
        { recipientDid: "did:example:a", url: "https://u:p@h.example/", secret: SECRET },
        { recipientDid: "did:example:a", url: "not a url", secret: SECRET },
        { recipientDid: "did:example:a", url: "https://h.example/", secret: "short" },
      ];
      for (const w of bad) {
        const e = await s.put(w).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(DeliveryError);
        expect((e as DeliveryError).code).toBe("invalid");
        expect((e as Error).message).not.toContain(SECRET);
      }
    });

    test("list pages in DID order; delete reports whether it removed one", async () => {
      const s = await make(new ManualClock());
      const dids = ["did:example:c", "did:example:a", "did:example:e", "did:example:b", "did:example:d"];
      for (const d of dids) await s.put({ recipientDid: d, url: `https://h.example/${d.slice(-1)}`, secret: SECRET });
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page = await s.list({ limit: 2, after });
        seen.push(...page.items.map((v) => v.recipientDid));
        after = page.next;
        if (after === null) break;
      }
      expect(seen).toEqual([...dids].sort());
      expect(await s.delete("did:example:c")).toBe(true);
      expect(await s.delete("did:example:c")).toBe(false);
      expect((await s.list()).items.map((v) => v.recipientDid)).toEqual(["did:example:a", "did:example:b", "did:example:d", "did:example:e"]);
    });
  });
}
