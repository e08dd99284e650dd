// The breaker rules over the in-memory store: threshold, success semantics, probe, randomised concurrency against the invariant.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/runtime/clock.ts";
import { seedFromEnv } from "../../src/runtime/random.ts";
import {
  addFailures,
  admit,
  casModeFor,
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
  test("a success does not clear a failure recorded after its call was admitted (that failure may have come later)", () => {
    let r = initialRecord();
    r = admit(r, rules, 0, "n", "a").next!;
    r = admit(r, rules, 0, "n", "b").next!;
    r = complete(r, rules, 0, "a", false).next!; // a's request may have reached the destination after b's
    r = complete(r, rules, 0, "b", true).next!;
    expect(r.failSeqs.length).toBe(1);
    r = admit(r, rules, 0, "n", "c").next!; // admitted after a's failure was recorded
    r = complete(r, rules, 0, "c", true).next!;
    expect(r.failSeqs.length).toBe(0);
  });
  test("idempotent by token: a retry after a write that landed neither applies twice nor loses its transition", () => {
    let r = initialRecord();
    r = admit(r, rules, 0, "n", "a").next!;
    // The admission landed but its answer was lost: the retry finds its holder, writes nothing, is admitted.
    expect(admit(r, rules, 0, "n", "a")).toEqual({ next: null, result: { admitted: true, kind: "call", seq: 1 }, change: null });
    r = admit(r, rules, 0, "n", "b").next!;
    r = admit(r, rules, 0, "n", "c").next!;
    r = complete(r, rules, 0, "a", false).next!;
    r = complete(r, rules, 0, "b", false).next!;
    // A completion that landed without a transition is not counted again.
    expect(complete(r, rules, 0, "b", false)).toMatchObject({ next: null, result: false, change: null });
    const opening = complete(r, rules, 10, "c", false);
    expect(opening.change).toMatchObject({ from: "closed", to: "open" });
    r = opening.next!;
    // The opening completion landed but timed out: its retry reports the transition it made, without a write.
    expect(complete(r, rules, 10, "c", false)).toEqual({ next: null, result: true, change: opening.change });
    const probe = admit(r, rules, 1010, "n", "p");
    expect(probe.change).toMatchObject({ from: "open", to: "half-open" });
    r = probe.next!;
    expect(admit(r, rules, 1011, "n", "p")).toEqual({ next: null, result: probe.result, change: probe.change });
    expect(admit(r, rules, 1011, "n", "q").result).toMatchObject({ admitted: false, reason: "probing" });
    const closing = complete(r, rules, 1020, "p", true);
    r = closing.next!;
    expect(complete(r, rules, 1020, "p", true)).toEqual({ next: null, result: true, change: closing.change });
    // Unreserved failures: the same token adds once.
    const added = addFailures(r, rules, 1030, 2, "x");
    expect(added.result).toBe(2);
    expect(addFailures(added.next!, rules, 1030, 2, "x")).toEqual({ next: null, result: 2, change: null });
    expect(addFailures(added.next!, rules, 1030, 1, "y").change).toMatchObject({ from: "closed", to: "open", reason: "reconcile" });
  });
  test("cas mode: stream-level expectation on servers whose subject CAS is not serialisable (before 2.9.21)", () => {
    expect(casModeFor("2.9.10")).toBe("stream");
    expect(casModeFor("2.9.20")).toBe("stream");
    expect(casModeFor("2.9.21")).toBe("subject");
    expect(casModeFor("2.10.0")).toBe("subject");
    expect(casModeFor("v2.11.3")).toBe("subject");
    expect(casModeFor(undefined)).toBe("stream");
    expect(casModeFor("garbage")).toBe("stream");
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
    expect(mergeLocal(initialRecord(), open, rules, 600, "m1").next).toMatchObject({ phase: "open", openedAtMs: 500 });
    expect(mergeLocal({ ...open, openedAtMs: 700 }, open, rules, 800, "m2").next).toBeNull();
    const local2 = { ...initialRecord(), failSeqs: [1, 2] };
    const shared1 = { ...initialRecord(), failSeqs: [9], nextSeq: 10 };
    const m = mergeLocal(shared1, local2, rules, 900, "m3");
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
    // Run until the breaker opened by threshold 3 times (each probe closes it with probability 1/2, so a fixed
    // number of rounds could end before the second opening); the iteration bound only turns a bug into a failure.
    const enough = () => transitions.filter((t) => t.reason === "threshold").length >= 3;
    const workers = nodes.flatMap((b) =>
      Array.from({ length: 5 }, async () => {
        for (let i = 0; i < 20_000 && !enough(); i++) {
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
    let running = true;
    const ticker = (async () => {
      while (running) {
        await yieldTurn();
        clock.advance(50);
      }
    })();
    await Promise.all(workers);
    running = false;
    await ticker;
    const thresholdOpenings = transitions.filter((t) => t.reason === "threshold").length;
    const final = await nodes[0]!.snapshot(D);
    expect(thresholdOpenings).toBe(3);
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
