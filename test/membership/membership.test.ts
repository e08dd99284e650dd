// SWIM detector under a ManualClock and an in-memory transport: suspicion, probes, death, refutation, draining.
import { describe, expect, test } from "bun:test";
import { simCluster, stateOf, incarnationOf, TIMING } from "./helpers.ts";

describe("Membership (ManualClock, in-memory gossip)", () => {
  test("members discover each other from heartbeats", async () => {
    const { clock, nodes } = simCluster(["a", "b", "c"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    for (const m of nodes.values()) expect(m.view().live).toEqual(["a", "b", "c"]);
  });

  test("a silent member is suspected after suspectAfterMs and declared dead after deadAfterMs, not before", async () => {
    const { clock, nodes, history } = simCluster(["a", "b", "c"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    const c = nodes.get("c")!;
    c.stop(false); // crash: no leaving announcement
    const a = nodes.get("a")!;
    // c's last heartbeat reached a at t=250; checks run every 100 ms, so suspicion lands on the first
    // check at or after 250+1000 and death on the first check at or after 250+2000.
    const at = (t: number) => clock.advanceAsync(t - clock.monotonicMs());
    const lastSeen = TIMING.heartbeatIntervalMs;
    const firstCheckAtOrAfter = (t: number) => Math.ceil(t / TIMING.checkIntervalMs) * TIMING.checkIntervalMs;
    await at(lastSeen + TIMING.suspectAfterMs - 1);
    expect(stateOf(a, "c")).toBe("alive");
    await at(firstCheckAtOrAfter(lastSeen + TIMING.suspectAfterMs));
    expect(stateOf(a, "c")).toBe("suspect");
    expect(a.view().live).toContain("c"); // a suspect keeps its partitions
    await at(lastSeen + TIMING.deadAfterMs - 1);
    expect(stateOf(a, "c")).toBe("suspect");
    await at(firstCheckAtOrAfter(lastSeen + TIMING.deadAfterMs));
    expect(stateOf(a, "c")).toBe("dead");
    expect(a.view().live).toEqual(["a", "b"]);
    expect(history.get("a")!.get("c")).toEqual(["alive", "suspect", "dead"]);
    expect(history.get("b")!.get("c")).toEqual(["alive", "suspect", "dead"]);
  });

  test("an indirect probe through another member keeps a member with a broken direct link alive", async () => {
    const { clock, hub, nodes, history } = simCluster(["a", "b", "c"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    hub.cut("a", "c");
    hub.cut("c", "a");
    await clock.advanceAsync(10 * TIMING.deadAfterMs);
    const a = nodes.get("a")!;
    expect(history.get("a")!.get("c")).not.toContain("dead");
    expect(a.view().live).toEqual(["a", "b", "c"]);
    expect(stateOf(a, "c")).toBe("suspect");
    // Control: the same cut with no helper available is fatal.
    hub.isolate("b");
    await clock.advanceAsync(2 * TIMING.deadAfterMs);
    expect(stateOf(a, "c")).toBe("dead");
  });

  test("a suspected member refutes with a higher incarnation and everyone sees it alive again", async () => {
    const { clock, hub, nodes, history } = simCluster(["a", "b", "c"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    const a = nodes.get("a")!;
    const b = nodes.get("b")!;
    const c = nodes.get("c")!;
    const inc0 = c.incarnation;
    hub.cut("c", "a"); // a stops hearing c; c still hears a's suspect notice
    await clock.advanceAsync(TIMING.suspectAfterMs + TIMING.checkIntervalMs);
    expect(stateOf(a, "c")).toBe("suspect");
    expect(c.refutations).toBeGreaterThanOrEqual(1);
    expect(c.incarnation).toBeGreaterThan(inc0);
    expect(incarnationOf(b, "c")).toBe(c.incarnation); // b got the refuting heartbeat
    expect(stateOf(b, "c")).toBe("alive");
    hub.heal("c", "a");
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    expect(stateOf(a, "c")).toBe("alive");
    expect(incarnationOf(a, "c")).toBe(c.incarnation);
    for (const observer of ["a", "b"]) expect(history.get(observer)!.get("c")).not.toContain("dead");
  });

  test("a member declared dead comes back only with a higher incarnation", async () => {
    const { clock, hub, nodes } = simCluster(["a", "b", "c"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    const a = nodes.get("a")!;
    const c = nodes.get("c")!;
    const inc0 = c.incarnation;
    hub.isolate("c");
    await clock.advanceAsync(TIMING.deadAfterMs + 2 * TIMING.checkIntervalMs);
    expect(stateOf(a, "c")).toBe("dead");
    expect(c.view().live).toEqual(["c"]); // c sees everyone else dead too
    hub.rejoin("c");
    await clock.advanceAsync(TIMING.suspectAfterMs);
    expect(c.incarnation).toBeGreaterThan(inc0);
    for (const m of nodes.values()) expect(m.view().live).toEqual(["a", "b", "c"]);
  });

  test("draining and leaving members leave the live set but stay visible", async () => {
    const { clock, nodes } = simCluster(["a", "b"]);
    for (const m of nodes.values()) m.start();
    await clock.advanceAsync(TIMING.heartbeatIntervalMs);
    const a = nodes.get("a")!;
    const b = nodes.get("b")!;
    b.setState("draining");
    await clock.advanceAsync(1);
    expect(a.view().live).toEqual(["a"]);
    expect(stateOf(a, "b")).toBe("draining");
    expect(b.view().live).toEqual(["a"]);
    b.stop(true);
    await clock.advanceAsync(1);
    expect(stateOf(a, "b")).toBe("leaving");
  });
});
