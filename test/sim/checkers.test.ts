// Unit tests of the simulation checkers over hand-written histories: each checker passes a correct history and reports a violating one.
import { describe, expect, test } from "bun:test";
import { checkAgreement, checkAll, checkDelivered, checkNoRedeliveryAfterConfirm, checkSingleOwnerPerEpoch } from "./checkers.ts";
import { emptyHistory, type DeliveryRecord, type ForwardRecord, type History } from "./history.ts";
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
  return h;
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
