// The breaker rules over the in-memory store: threshold, success semantics, probe, randomised concurrency against the invariant.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/clock.ts";
import { seedFromEnv } from "../../src/runtime/random.ts";
import {
  admit,
  complete,
  decodeRecord,
  DeliveryError,
  DistributedBreaker,
  encodeRecord,
  initialRecord,
  MemoryBreakerStore,
  mergeLocal,
  type BreakerRules,
  type BreakerTransition,
} from "../../src/delivery/index.ts";

const rules: BreakerRules = { failureThreshold: 3, openMs: 1000, holderTtlMs: 5000, recheckMs: 100 };
const D = "https://x.example:443";

describe("breaker rules (pure)", () => {
  test("a success clears only failures of calls admitted before it", () => {
    let r = initialRecord();
    const tokens = ["a", "b", "c"];
    for (const t of tokens) {
      const s = admit(r, rules, 0, "n", t);
      expect(s.result.admitted).toBe(true);
      r = s.next!;
    }
    expect(admit(r, rules, 0, "n", "d").result).toMatchObject({ admitted: false, reason: "saturated" });
    r = complete(r, rules, 0, "c", false).next!; // latest admission failed first
    r = complete(r, rules, 0, "a", true).next!; // an earlier success arrives late: c's failure stays
    expect(r.failSeqs.length).toBe(1);
    r = complete(r, rules, 0, "b", false).next!;
    expect(r.failSeqs.length).toBe(2);
    expect(r.phase).toBe("closed");
  });
  test("stale tokens are ignored; open refuses until openMs, then one probe", () => {
    let r = initialRecord();
    for (let i = 0; i < 3; i++) {
      r = admit(r, rules, 0, "n", `t${i}`).next!;
      const c = complete(r, rules, 10, `t${i}`, false);
      r = c.next!;
      if (i === 2) expect(c.change).toEqual({ from: "closed", to: "open", reason: "threshold", failures: 3 });
    }
    expect(complete(r, rules, 10, "t0", false)).toMatchObject({ next: null, result: false });
    expect(admit(r, rules, 1009, "n", "x").result).toEqual({ admitted: false, reason: "open", retryAtMs: 1010 });
    const probe = admit(r, rules, 1010, "n", "p");
    expect(probe.result).toMatchObject({ admitted: true, kind: "probe" });
    expect(admit(probe.next!, rules, 1011, "n", "q").result).toEqual({ admitted: false, reason: "probing", retryAtMs: 1111 });
    // A dead prober's probe lapses at its expiry.
    expect(admit(probe.next!, rules, 1010 + 5000, "n", "q").result).toMatchObject({ admitted: true, kind: "probe" });
  });
  test("merge: local open wins over shared closed; local closed failures are added", () => {
    const open = { ...initialRecord(), phase: "open" as const, openedAtMs: 500 };
    expect(mergeLocal(initialRecord(), open, rules, 600).next).toMatchObject({ phase: "open", openedAtMs: 500 });
    expect(mergeLocal({ ...open, openedAtMs: 700 }, open, rules, 800).next).toBeNull();
    const local2 = { ...initialRecord(), failSeqs: [1, 2] };
    const shared1 = { ...initialRecord(), failSeqs: [9], nextSeq: 10 };
    const m = mergeLocal(shared1, local2, rules, 900);
    expect(m.next).toMatchObject({ phase: "open", openedAtMs: 900 });
    expect(m.change).toMatchObject({ to: "open", reason: "reconcile" });
  });
  test("records round-trip; malformed ones are refused", () => {
    const r = admit(initialRecord(), rules, 0, "node-1", "tok").next!;
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
    expect(() => decodeRecord(new Uint8Array([0xc1]))).toThrow(DeliveryError);
    expect(() => decodeRecord(encodeRecord({ ...r, phase: "weird" as never }))).toThrow(DeliveryError);
  });
});

describe("DistributedBreaker over a shared in-memory store (randomised)", () => {
  test("calls fail, probes sometimes succeed: call admissions = threshold x openings + the final count, one probe per half-open", async () => {
    const { seed, random } = seedFromEnv();
    console.log(`breaker interleaving SEED=${seed}`);
    const clock = new ManualClock();
    const shared = new MemoryBreakerStore({ kind: "shared" });
    const transitions: BreakerTransition[] = [];
    const nodes = Array.from({ length: 4 }, (_, i) => new DistributedBreaker({ nodeId: `n${i}`, shared, clock, random, failureThreshold: 5, openMs: 1000, onTransition: (t) => transitions.push(t) }));
    let calls = 0;
    let probes = 0;
    let probesOut = 0;
    let maxProbesOut = 0;
    const yieldTurn = () => new Promise<void>((r) => setImmediate(r));
    const workers = nodes.flatMap((b) =>
      Array.from({ length: 5 }, async () => {
        for (let i = 0; i < 60; i++) {
          const a = await b.acquire(D);
          if (!a.admitted) {
            await yieldTurn();
            continue;
          }
          if (a.permit.kind === "probe") {
            probes++;
            maxProbesOut = Math.max(maxProbesOut, ++probesOut);
          } else calls++;
          for (let k = random.int(3); k > 0; k--) await yieldTurn();
          const ok = a.permit.kind === "probe" && random.int(2) === 0;
          if (a.permit.kind === "probe") probesOut--;
          await b.release(a.permit, ok);
        }
      }),
    );
    const ticker = (async () => {
      for (let i = 0; i < 300; i++) {
        await yieldTurn();
        clock.advance(50);
      }
    })();
    await Promise.all([...workers, ticker]);
    const thresholdOpenings = transitions.filter((t) => t.reason === "threshold").length;
    const final = await nodes[0]!.snapshot(D);
    expect(thresholdOpenings).toBeGreaterThan(1);
    expect(calls).toBe(5 * thresholdOpenings + (final.phase === "closed" ? final.failures : 0));
    expect(maxProbesOut).toBe(1);
    expect(probes).toBe(transitions.filter((t) => t.to === "half-open").length);
    const legal = new Set(["closed->open", "open->half-open", "half-open->open", "half-open->closed"]);
    for (const t of transitions) expect(legal.has(`${t.from}->${t.to}`)).toBe(true);
  });

  test("local-only mode (no shared store) follows the same rules", async () => {
    const clock = new ManualClock();
    const b = new DistributedBreaker({ nodeId: "solo", clock, failureThreshold: 2, openMs: 1000 });
    expect(b.mode).toBe("local");
    for (let i = 0; i < 2; i++) {
      const a = await b.acquire(D);
      if (!a.admitted) throw new Error("expected admission");
      await b.release(a.permit, false);
    }
    expect(await b.acquire(D)).toMatchObject({ admitted: false, reason: "open" });
    clock.advance(1000);
    const p = await b.acquire(D);
    expect(p).toMatchObject({ admitted: true, permit: { kind: "probe", store: "local" } });
  });
});
