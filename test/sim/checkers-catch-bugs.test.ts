// A checker that finds nothing on a correct run must catch a planted bug: short simulations against node builds from test/sim/bugs/planted.ts.
import { resolve } from "node:path";
import { describe, expect, test } from "bun:test";
import { runSimulation } from "./run.ts";

const ENTRY = resolve(import.meta.dir, "bugs/planted.ts");
/** Short and fault-free: the planted bugs need no faults to show, and the point is the checkers' verdict. */
const SHORT = { nodes: 3, faultWindowMs: 5_000, nodeFaults: 0, natsFaults: 0, settleTimeoutMs: 40_000, drainTimeoutMs: 8_000, entry: ENTRY };

describe("the checkers catch planted bugs", () => {
  test("a journal that acknowledges forwards without storing them is caught by 'delivered'; keeping confirmed messages is caught by 'noRedeliveryAfterConfirm'", async () => {
    // Expected: every 3rd 202 is never delivered (checker a), and confirmed messages come back on the next pickup
    // (checker b); ownership is untouched by these bugs, so c and d stay quiet.
    const r = await runSimulation({ ...SHORT, seed: 42, nodeEnv: { SIM_BUGS: "drop-accepts,keep-confirmed" } }, { log: (l) => console.log(l.slice(0, 2_000)) });
    const by = (name: string) => r.violations.filter((v) => v.checker === name);
    expect(r.figures.acked).toBeGreaterThan(10);
    expect(by("delivered").length).toBeGreaterThan(0);
    expect(by("delivered")[0]!.detail).toContain("acknowledged 202");
    expect(by("noRedeliveryAfterConfirm").length).toBeGreaterThan(0);
    expect(by("singleOwnerPerEpoch")).toEqual([]);
    expect(by("agreement")).toEqual([]);
  }, 150_000);

  test("leases taken over before they expired, by nodes that never let go, are caught by 'singleOwnerPerEpoch'", async () => {
    // Expected: after the first membership change (a node cut off, then back) the old and the new owner of a partition
    // take its lease from each other again and again; each keeps serving its older epoch until its next renewal
    // fails, so the sampler sees a node serving an older epoch after another was seen serving a newer one.
    // Ownership may never settle here (agreement may fail too); only the ownership checker's verdict is asserted.
    const r = await runSimulation(
      { ...SHORT, seed: 43, faultWindowMs: 10_000, settleTimeoutMs: 10_000, nodeFaults: 2, nodeFaultKinds: ["partition"], nodeEnv: { SIM_BUGS: "steal-leases,keep-desired" } },
      { log: (l) => console.log(l.slice(0, 2_000)) },
    );
    const owners = r.violations.filter((v) => v.checker === "singleOwnerPerEpoch");
    expect(owners.length).toBeGreaterThan(0);
  }, 150_000);

  test("nodes that never use the shared breaker store and never reconcile are caught by 'breakerConsistent'", async () => {
    // Expected: every node falls back to its in-memory breaker (or cannot read the shared record) and stays there
    // after healing, so checker (e) reports nodes not in shared mode; messages are untouched, so a-d stay quiet.
    const r = await runSimulation({ ...SHORT, seed: 44, webhooks: true, nodeEnv: { SIM_BUGS: "local-breaker" } }, { log: (l) => console.log(l.slice(0, 2_000)) });
    const by = (name: string) => r.violations.filter((v) => v.checker === name);
    expect(r.figures.webhook?.successes ?? 0).toBeGreaterThan(0);
    expect(by("breakerConsistent").length).toBeGreaterThan(0);
    expect(by("delivered")).toEqual([]);
  }, 150_000);

  test("the same short run on the real build passes every checker (the verdict above comes from the bugs)", async () => {
    // Expected: no violations; the same seed, options and entry mechanism, with no bug selected.
    const r = await runSimulation({ ...SHORT, seed: 42, nodeEnv: { SIM_BUGS: "" } }, { log: (l) => console.log(l.slice(0, 2_000)) });
    expect(r.figures.acked).toBeGreaterThan(10);
    expect(r.violations).toEqual([]);
  }, 150_000);
});
