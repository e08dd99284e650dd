// The unpack pool gives exactly the in-thread unpack's results for real envelopes (Haven and didcomm-node), via its workers.
import { afterAll, describe, expect, test } from "bun:test";
import { createUnpackPool } from "../../../src/didcomm/pool/index.ts";
import { expectSameAsInThread, mediator, mediatorCtx, realEnvelopes, type Envelope } from "./fixtures.ts";

const ctx = mediatorCtx();
const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 2 });
afterAll(() => pool.close());

describe("unpack pool: same results as in-thread unpack", () => {
  let envelopes: Envelope[] = [];

  test("real envelopes, one at a time: workers answer anoncrypt/plaintext, the resolver cases run in-thread", async () => {
    envelopes = await realEnvelopes();
    for (const env of envelopes) {
      const before = pool.stats();
      const outcome = await expectSameAsInThread(pool, ctx, env.packed, env.name);
      expect({ name: env.name, ok: outcome.ok }).toEqual({ name: env.name, ok: true });
      const after = pool.stats();
      // Prove who did the work: a worker for anoncrypt/plaintext, the main thread otherwise (and why).
      const delta = (k: "authcrypt" | "resolver") => after.inThread[k] - before.inThread[k];
      expect({ name: env.name, viaWorker: after.viaWorker - before.viaWorker, authcrypt: delta("authcrypt"), resolver: delta("resolver") }).toEqual({
        name: env.name,
        viaWorker: env.workerOnly ? 1 : 0,
        authcrypt: env.inThread === "authcrypt" ? 1 : 0,
        resolver: env.inThread === "resolver" ? 1 : 0,
      });
    }
  }, 60_000);

  test("bytes in (as HTTP hands them over), including a view into a larger buffer; authcrypt is sniffed in bytes too", async () => {
    for (const env of envelopes) {
      const bytes = new TextEncoder().encode(env.packed);
      const big = new Uint8Array(bytes.byteLength + 100);
      big.set(bytes, 50);
      const before = pool.stats();
      await expectSameAsInThread(pool, ctx, bytes, `${env.name} (bytes)`);
      await expectSameAsInThread(pool, ctx, big.subarray(50, 50 + bytes.byteLength), `${env.name} (view)`);
      const after = pool.stats();
      expect({ name: env.name, viaWorker: after.viaWorker - before.viaWorker, authcrypt: after.inThread.authcrypt - before.inThread.authcrypt })
        .toEqual({ name: env.name, viaWorker: env.workerOnly ? 2 : 0, authcrypt: env.inThread === "authcrypt" ? 2 : 0 });
    }
  }, 60_000);

  test("240 concurrent callers (below maxQueue) over both workers: every result matches its own envelope", async () => {
    const before = pool.stats().viaWorker;
    const batch = Array.from({ length: 240 }, (_, i) => envelopes[i % envelopes.length]!);
    await Promise.all(batch.map((env, i) => expectSameAsInThread(pool, ctx, env.packed, `${env.name} #${i}`)));
    const workerOnly = batch.filter((e) => e.workerOnly).length;
    expect(pool.stats().viaWorker - before).toBe(workerOnly);
    expect(pool.stats().inFlight).toBe(0);
  }, 120_000);
});
