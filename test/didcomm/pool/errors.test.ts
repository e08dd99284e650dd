// Bad input gives the same typed DidcommError (code and retryable) through the pool as in-thread; seeded mutations too.
import { afterAll, describe, expect, test } from "bun:test";
import { DidcommError, DidcommErrorCode } from "../../../src/didcomm/errors.ts";
import { packEncrypted } from "../../../src/didcomm/pack/index.ts";
import { unpack } from "../../../src/didcomm/pack/unpack.ts";
import { createUnpackPool } from "../../../src/didcomm/pool/index.ts";
import { KeySecrets } from "../../support/world.ts";
import { Rng, seedFromEnv } from "../../support/random.ts";
import { alice, bob, expectSameAsInThread, mediator, mediatorCtx, outcomeOf, realEnvelopes, resolver, sampleMessage } from "./fixtures.ts";

const ctx = mediatorCtx();
const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 2 });
const smallCtx = mediatorCtx(2000);
const smallPool = createUnpackPool({ ctx: smallCtx, keys: mediator.keys, workers: 1 });
afterAll(async () => {
  await pool.close();
  await smallPool.close();
});

const senderCtx = { resolver, secrets: new KeySecrets(alice.keys) };

/** Re-encodes the protected header of a JWE with `patch` applied. */
function patchProtected(packed: string, patch: Record<string, unknown>): string {
  const env = JSON.parse(packed) as Record<string, unknown>;
  const header = JSON.parse(Buffer.from(env.protected as string, "base64url").toString("utf8")) as Record<string, unknown>;
  env.protected = Buffer.from(JSON.stringify({ ...header, ...patch })).toString("base64url");
  return JSON.stringify(env);
}

function flipField(packed: string, field: string): string {
  const env = JSON.parse(packed) as Record<string, string>;
  const v = env[field]!;
  env[field] = (v[0] === "A" ? "B" : "A") + v.slice(1);
  return JSON.stringify(env);
}

describe("unpack pool: typed errors equal to in-thread", () => {
  test("hand-made bad envelopes", async () => {
    const fwd = (await packEncrypted(sampleMessage(bob.did), bob.did, senderCtx)).packed;
    const inner = JSON.parse(fwd) as { recipients: unknown };
    const toBobOnly = (await packEncrypted(sampleMessage(bob.did), bob.did, senderCtx, { forward: false })).packed;
    const cases: [string, string | Uint8Array, string][] = [
      ["empty string", "", DidcommErrorCode.Malformed],
      ["not JSON", "not json", DidcommErrorCode.Malformed],
      ["truncated", fwd.slice(0, fwd.length / 2), DidcommErrorCode.Malformed],
      ["JSON array", "[]", DidcommErrorCode.Malformed],
      ["empty object", "{}", DidcommErrorCode.InvalidMessage],
      ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), DidcommErrorCode.Malformed],
      ["empty bytes", new Uint8Array(0), DidcommErrorCode.Malformed],
      ["neither text nor bytes", 42 as unknown as string, DidcommErrorCode.Malformed],
      ["ciphertext flipped", flipField(fwd, "ciphertext"), DidcommErrorCode.DecryptFailed],
      ["tag flipped", flipField(fwd, "tag"), DidcommErrorCode.DecryptFailed],
      ["iv flipped", flipField(fwd, "iv"), DidcommErrorCode.DecryptFailed],
      ["unsupported enc", patchProtected(fwd, { enc: "A128GCM" }), DidcommErrorCode.Unsupported],
      ["recipients removed", JSON.stringify({ ...JSON.parse(fwd), recipients: [] }), DidcommErrorCode.Malformed],
      ["not for us (the mediator holds no key)", toBobOnly, DidcommErrorCode.NoRecipient],
      ["plaintext with a bad to header", JSON.stringify({ id: "x", type: "t", body: {}, to: "not-a-list" }), DidcommErrorCode.InvalidMessage],
    ];
    expect(inner.recipients).toBeDefined();
    for (const [name, packed, code] of cases) {
      const o = await expectSameAsInThread(pool, ctx, packed, name);
      expect({ name, code: o.ok ? "ok" : o.code }).toEqual({ name, code });
    }
  }, 60_000);

  test("a worker's error is a real DidcommError with the in-thread retryable flag", async () => {
    const bad = flipField((await packEncrypted(sampleMessage(bob.did), bob.did, senderCtx)).packed, "ciphertext");
    const before = pool.stats().viaWorker;
    const err = await pool.unpack(bad).then(() => undefined, (e: unknown) => e);
    expect(pool.stats().viaWorker).toBe(before + 1); // answered by a worker, not by the fallback
    expect(err).toBeInstanceOf(DidcommError);
    const local = await unpack(bad, ctx).then(() => undefined, (e: unknown) => e as DidcommError);
    expect({ code: (err as DidcommError).code, retryable: (err as DidcommError).retryable, name: (err as DidcommError).name })
      .toEqual({ code: local!.code, retryable: local!.retryable, name: local!.name });
  }, 60_000);

  test("too large for the configured limit: TooLarge, string and bytes", async () => {
    const big = (await packEncrypted(sampleMessage(bob.did, undefined, "x".repeat(3000)), bob.did, senderCtx)).packed;
    for (const packed of [big, new TextEncoder().encode(big)]) {
      const o = await expectSameAsInThread(smallPool, smallCtx, packed, "too large");
      expect(o.ok ? "ok" : o.code).toBe(DidcommErrorCode.TooLarge);
    }
    expect(smallPool.stats().inThread.too_large).toBe(2);
  }, 60_000);

  test("seeded mutations of real envelopes: same outcome (replay with SEED=...)", async () => {
    const seed = seedFromEnv();
    console.log(`pool mutation fuzz SEED=${seed}`);
    const rng = new Rng(seed);
    const sources = (await realEnvelopes()).map((e) => e.packed);
    const alphabet = 'ABCabc019_-"{}[]:,.\\ é\u0000';
    const mutate = (s: string): string => {
      switch (rng.int(4)) {
        case 0: {
          const i = rng.int(s.length);
          return s.slice(0, i) + rng.pick([...alphabet]) + s.slice(i + 1);
        }
        case 1:
          return s.slice(0, rng.int(s.length));
        case 2: {
          const i = rng.int(s.length);
          return s.slice(0, i) + s.slice(i + 1 + rng.int(40));
        }
        default: {
          const i = rng.int(s.length);
          return s.slice(0, i) + s.slice(i, i + 1 + rng.int(20)) + s.slice(i);
        }
      }
    };
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const packed = mutate(rng.pick(sources));
      const o = await expectSameAsInThread(pool, ctx, packed, `mutation ${i} (SEED=${seed})`);
      const key = o.ok ? "ok" : o.code;
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    console.log(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(codes.size).toBeGreaterThan(1);
  }, 120_000);
});
