// A node with UNPACK_WORKERS=2 (forwards decrypted on worker threads) behaves exactly like the in-thread node:
// concurrent forwards (packed by didcomm-node agents) are stored once each, authenticated protocols still work, and
// bad envelopes get the same 4xx and problem-report answers.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { contentOf, deliver, enrol, packVia, received, status } from "./helpers.ts";

let pooled: NodeProcess;
let plain: NodeProcess;
beforeAll(async () => {
  const env = { RATE_LIMIT_PER_CONNECTION: "100000" };
  [pooled, plain] = await Promise.all([
    startNodeProcess({ env: { ...env, UNPACK_WORKERS: "2" } }),
    startNodeProcess({ env }),
  ]);
}, 30_000);
afterAll(async () => {
  await Promise.allSettled([pooled?.stop(), plain?.stop()]);
});

test("concurrent forwards through the worker pool are stored exactly once and picked up intact", async () => {
  const r = await enrol(pooled);
  const sender = new Agent();
  const contents = Array.from({ length: 120 }, (_, i) => `pooled ${i}`);
  const packed = await Promise.all(contents.map(async (c) => (await packVia(sender, r.inbox.did, c)).packed));
  // Every envelope twice, concurrently: the second copy of each is a duplicate and must not be stored again.
  const replies = await Promise.all([...packed, ...packed].map((p) => sender.post(pooled.url, p, undefined, { unpack: false })));
  expect(replies.map((x) => x.status)).toEqual(replies.map(() => 202));
  expect((await status(pooled, r)).message_count).toBe(contents.length);
  const got: string[] = [];
  for (let round = 0; round < 10 && got.length < contents.length; round++) {
    const page = await deliver(pooled, r, 50);
    got.push(...page.map(contentOf));
    await received(pooled, r, page.map((d) => d.storedId));
  }
  expect(got.sort()).toEqual([...contents].sort());
  // The forwards really went through the workers (the enrolment and pickups are authcrypt: in-thread).
  const metrics = await (await fetch(`${pooled.url}/metrics`)).text();
  const viaWorker = Number(/haven_unpack_pool_calls\{[^}]*path="worker"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? "0");
  expect(viaWorker).toBeGreaterThanOrEqual(2 * contents.length);
});

test("bad envelopes get the same answers with and without the pool", async () => {
  const sender = new Agent();
  const r = await enrol(plain);
  const good = (await packVia(sender, r.inbox.did, "x")).packed;
  const jwe = JSON.parse(good) as Record<string, unknown>;
  const bad = [
    "not json at all",
    JSON.stringify({ ...jwe, ciphertext: "AAAA" }),
    JSON.stringify({ ...jwe, tag: "AAAAAAAAAAAAAAAAAAAAAA" }),
    JSON.stringify({ ...jwe, recipients: [] }),
    JSON.stringify({ protected: "e30", ciphertext: "", iv: "", tag: "" }),
  ];
  for (const body of bad) {
    const [a, b] = await Promise.all([pooled, plain].map((n) => sender.post(n.url, body, undefined, { unpack: false })));
    expect({ status: a!.status, body: a!.body.length > 0 }).toEqual({ status: b!.status, body: b!.body.length > 0 });
    expect(a!.status).toBeGreaterThanOrEqual(200);
    expect(a!.status).toBeLessThan(500);
  }
});
