// Unit tests of the simulation checkers over hand-written histories: each checker passes a correct history and reports a violating one.
import { describe, expect, test } from "bun:test";
import { transitionsToOpen } from "./breaker-view.ts";
import { checkAgreement, checkAll, checkBreakerConsistent, checkDelivered, checkNoRedeliveryAfterConfirm, checkSingleOwnerPerEpoch } from "./checkers.ts";
import { emptyHistory, type BreakerView, type DeliveryRecord, type ForwardRecord, type History } from "./history.ts";
import { generateSchedule, resolveOptions } from "./schedule.ts";

const fwd = (msgId: string, recipient: string, status: number | "error" = 202): ForwardRecord => ({ msgId, recipient, via: "node-a", status, sentAtMs: 0, doneAtMs: 1 });
const got = (msgId: string, recipient: string, requestSentAtMs: number, kind: "pickup" | "live" = "pickup"): DeliveryRecord => ({
  msgId,
  storedId: `st-${msgId}`,
  recipient,
  kind,
  node: "node-b",
  requestSentAtMs,
  atMs: requestSentAtMs + 1,
});

/** A correct little run: two 202s delivered and confirmed, one unknown outcome never delivered, a clean handover, agreement. */
function correct(): History {
  const h = emptyHistory(["node-a", "node-b"], 2);
  h.forwards.push(fwd("m1", "r0"), fwd("m2", "r1"), fwd("m3", "r0", "error"), fwd("m4", "r0", 503));
  // m1 delivered twice before its confirmation (at-least-once is allowed), m2 pushed live then picked up.
  h.deliveries.push(got("m1", "r0", 10), got("m1", "r0", 20), got("m2", "r1", 15, "live"), got("m2", "r1", 30));
  h.confirmations.push({ recipient: "r0", storedIds: ["st-m1"], msgIds: ["m1"], node: "node-a", ok: true, sentAtMs: 40, doneAtMs: 50 });
  // A failed confirmation does not count: m2 may come back.
  h.confirmations.push({ recipient: "r1", storedIds: ["st-m2"], msgIds: ["m2"], node: "node-a", ok: false, sentAtMs: 40, doneAtMs: 50 });
  h.deliveries.push(got("m2", "r1", 60));
  // p0 moves from node-a (epoch 1) to node-b (epoch 2); overlapping snapshots of different epochs are fine.
  h.ownership.push(
    { node: "node-a", partition: 0, epoch: 1, sentAtMs: 0, recvAtMs: 5 },
    { node: "node-b", partition: 0, epoch: 2, sentAtMs: 3, recvAtMs: 8 },
    { node: "node-a", partition: 0, epoch: 1, sentAtMs: 4, recvAtMs: 9 },
    { node: "node-b", partition: 1, epoch: 1, sentAtMs: 0, recvAtMs: 5 },
  );
  h.final.push(
    { node: "node-a", live: ["node-b", "node-a"], owned: [{ partition: 0, epoch: 1, serving: false }] },
    { node: "node-b", live: ["node-a", "node-b"], owned: [{ partition: 0, epoch: 2, serving: true }, { partition: 1, epoch: 1, serving: true }] },
  );
  // The breaker opened once (node-b's counter; node-a's was lost with a kill) after 7 failed requests, and closed again.
  const openedAt = "2025-01-01T00:00:00.000Z";
  h.breaker = { destination: "http://127.0.0.1:1", threshold: 5, endpointRequests: 30, endpointNotOk: 7, views: [view("node-a", 0, openedAt), view("node-b", 1, openedAt)] };
  return h;
}

function view(node: string, transitionsToOpen: number, openedAt: string | null): BreakerView {
  return { node, mode: "shared", store: "shared", phase: "closed", failures: 0, probeHeld: false, openedAt, transitionsToOpen };
}

describe("checkers", () => {
  test("a correct history passes every checker", () => {
    expect(checkAll(correct())).toEqual([]);
  });

  test("delivered: a 202 never delivered, a message delivered to the wrong recipient, and an invented one are reported", () => {
    const h = correct();
    h.forwards.push(fwd("lost", "r1"));
    h.deliveries.push(got("m1", "r1", 70), got("ghost", "r0", 70));
    const v = checkDelivered(h).map((x) => x.detail);
    expect(v).toContain("lost to r1 acknowledged 202 via node-a but never delivered");
    expect(v).toContain("m1 for r0 delivered to r1");
    expect(v).toContain("ghost delivered to r0 but never sent");
    expect(v.length).toBe(3);
  });

  test("delivered: a 202 only ever pushed live (never picked up) counts as lost", () => {
    const h = correct();
    h.forwards.push(fwd("pushed-only", "r1"));
    h.deliveries.push(got("pushed-only", "r1", 70, "live"));
    expect(checkDelivered(h).map((x) => x.detail)).toEqual(["pushed-only to r1 acknowledged 202 via node-a but never delivered (only pushed live, then gone from the store)"]);
  });

  test("noRedeliveryAfterConfirm: a pickup requested after the confirmation returning the message is reported; a live push is not judged", () => {
    const h = correct();
    expect(checkNoRedeliveryAfterConfirm(h)).toEqual([]);
    h.deliveries.push(got("m1", "r0", 45)); // requested while the confirmation was in flight: allowed
    h.deliveries.push(got("m1", "r0", 80, "live"));
    expect(checkNoRedeliveryAfterConfirm(h)).toEqual([]);
    h.deliveries.push(got("m1", "r0", 51));
    const v = checkNoRedeliveryAfterConfirm(h);
    expect(v.length).toBe(1);
    expect(v[0]!.detail).toContain("m1 of r0 delivered again");
  });

  test("singleOwnerPerEpoch: two nodes at one epoch, and an old epoch served after a newer one was seen, are reported", () => {
    const same = correct();
    same.ownership.push({ node: "node-a", partition: 1, epoch: 1, sentAtMs: 100, recvAtMs: 101 });
    expect(checkSingleOwnerPerEpoch(same).map((x) => x.detail)).toEqual(["p1: epoch 1 served by node-a and node-b"]);

    const stale = correct();
    stale.ownership.push({ node: "node-a", partition: 0, epoch: 1, sentAtMs: 20, recvAtMs: 21 }); // sent after epoch 2 was seen at 8
    expect(checkSingleOwnerPerEpoch(stale).map((x) => x.detail)).toEqual(["p0: node-a served epoch 1 after node-b was seen serving epoch 2"]);
  });

  test("agreement: a node that does not answer, a different live set, an unserved and a doubly served partition are reported", () => {
    const h = correct();
    h.final[0] = { node: "node-a", live: ["node-a"], owned: [{ partition: 1, epoch: 2, serving: true }] };
    h.final[1] = { node: "node-b", live: null, owned: [] };
    const v = checkAgreement(h).map((x) => x.detail);
    expect(v).toContain("node-a sees live [node-a], expected [node-a,node-b]");
    expect(v).toContain("node-b did not answer /cluster/status after healing");
    expect(v).toContain("p0 served by 0 nodes []");
    expect(v.length).toBe(3);

    const doubled = correct();
    doubled.final[0]!.owned.push({ partition: 1, epoch: 3, serving: true });
    expect(checkAgreement(doubled).map((x) => x.detail)).toEqual(["p1 served by 2 nodes [node-a,node-b]"]);
  });

  test("breakerConsistent: a node left in local fallback, disagreeing records, a breaker left open and openings without enough failures are reported", () => {
    const ok = correct();
    ok.breaker!.views[0] = { ...ok.breaker!.views[0]!, phase: "half-open", probeHeld: true }; // a dead prober's probe: exempt
    ok.breaker!.views[1] = { ...ok.breaker!.views[1]!, phase: "half-open", probeHeld: true };
    expect(checkBreakerConsistent(ok)).toEqual([]);
    const noWebhooks = correct();
    delete noWebhooks.breaker;
    expect(checkBreakerConsistent(noWebhooks)).toEqual([]);

    const h = correct();
    const b = h.breaker!;
    b.views[0] = { ...b.views[0]!, mode: "local", store: "local", phase: "open", failures: 0 };
    b.endpointNotOk = 4;
    const v = checkBreakerConsistent(h).map((x) => x.detail);
    expect(v).toContain("node-a still in mode local (record read from local) after healing: not reconciled with the shared record");
    expect(v).toContain("node-a reports phase=open failures=0 opened_at=2025-01-01T00:00:00.000Z, node-b reports phase=closed failures=0 opened_at=2025-01-01T00:00:00.000Z");
    expect(v).toContain("node-a: breaker open after healing, with a healthy endpoint and a fresh event");
    expect(v).toContain("1 transition(s) to open counted, but the endpoint saw only 4 of 30 requests not answered 2xx (threshold 5)");
    expect(v.length).toBe(4);

    const silent = correct();
    silent.breaker!.views[1] = { node: "node-b", mode: null, store: null, phase: null, failures: null, probeHeld: null, openedAt: null, transitionsToOpen: null };
    expect(checkBreakerConsistent(silent).map((x) => x.detail)).toEqual(["node-b did not report the breaker of http://127.0.0.1:1 after healing", "node-b did not answer /metrics after healing"]);
  });

  test("transitionsToOpen sums the to=\"open\" samples of haven_breaker_transitions_total only", () => {
    const text = [
      "# TYPE haven_breaker_transitions_total counter",
      'haven_breaker_transitions_total{destination="http://127.0.0.1:1",to="open"} 2',
      'haven_breaker_transitions_total{destination="http://127.0.0.1:1",to="closed"} 5',
      'haven_breaker_transitions_total{destination="other",to="open"} 1',
      'haven_breaker_state{destination="http://127.0.0.1:1",state="open"} 1',
    ].join("\n");
    expect(transitionsToOpen(text)).toBe(3);
    expect(transitionsToOpen("")).toBe(0);
  });

  test("violations are capped per checker", () => {
    const h = correct();
    for (let i = 0; i < 50; i++) h.forwards.push(fwd(`x${i}`, "r0"));
    const v = checkDelivered(h);
    expect(v.length).toBe(21);
    expect(v[20]!.detail).toBe("... and 30 more");
  });
});

describe("schedule", () => {
  test("one seed gives one schedule; lanes never overlap (one node and one NATS server faulty at a time)", () => {
    for (const seed of [1, 7, 12345, 2 ** 52 + 3]) {
      const o = resolveOptions(seed, { nodeFaults: 8, natsFaults: 3, faultWindowMs: 60_000, webhooks: true });
      const a = generateSchedule(o);
      expect(generateSchedule(o)).toEqual(a);
      for (const lane of [(k: string) => k === "natsKill", (k: string) => k.startsWith("endpoint"), (k: string) => k !== "natsKill" && !k.startsWith("endpoint")]) {
        const evs = a.filter((e) => lane(e.kind));
        for (let i = 1; i < evs.length; i++) expect(evs[i]!.atMs).toBeGreaterThanOrEqual(evs[i - 1]!.atMs + evs[i - 1]!.durationMs);
      }
      expect(a.some((e) => e.kind === "natsKill")).toBe(true);
    }
    expect(generateSchedule(resolveOptions(1))).not.toEqual(generateSchedule(resolveOptions(2)));
  });

  test("options out of bounds are refused", () => {
    expect(() => resolveOptions(1, { nodes: 5 })).toThrow(RangeError);
    expect(() => resolveOptions(-1)).toThrow(RangeError);
    expect(() => resolveOptions(1, { liveRecipients: 9, recipients: 2 })).toThrow(RangeError);
  });
});
