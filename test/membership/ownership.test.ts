// Ownership wiring (ManualClock): membership view -> ring -> leases; a dead node's partitions move to the survivors.
import { expect, test } from "bun:test";
import { LeaseManager } from "../../src/membership/lease-manager.ts";
import { MemoryLeaseServer } from "../../src/membership/memory-lease-store.ts";
import { Ownership } from "../../src/membership/ownership.ts";
import { simCluster, TIMING } from "./helpers.ts";

test("each node leases exactly its ring share; a crashed node's share moves after it is declared dead", async () => {
  const P = 16;
  const sim = simCluster(["a", "b", "c"]);
  const server = new MemoryLeaseServer(sim.clock, 3000);
  const leases = new Map<string, LeaseManager>();
  const owners = new Map<string, Ownership>();
  for (const [id, m] of sim.nodes) {
    const lm = new LeaseManager({ nodeId: id, store: server.client(id), clock: sim.clock, partitions: P, onGained: () => {}, onLost: () => {} });
    leases.set(id, lm);
    const o = new Ownership({ membership: m, leases: lm, partitions: P });
    owners.set(id, o);
    m.start();
    o.start();
  }
  await sim.clock.advanceAsync(500);
  const ring = owners.get("a")!.ring();
  expect(ring.nodes).toEqual(["a", "b", "c"]);
  for (const [id, lm] of leases) expect(lm.owned().map((o) => o.partition)).toEqual(ring.ownedBy(id));
  // c crashes: it stops heartbeating and its leases are no longer renewed.
  sim.nodes.get("c")!.stop(false);
  server.setMode("c", "down");
  await sim.clock.advanceAsync(TIMING.deadAfterMs + 3000 + 1000);
  const held = [...leases.get("a")!.owned(), ...leases.get("b")!.owned()].map((o) => o.partition).sort((x, y) => x - y);
  expect(held).toEqual(Array.from({ length: P }, (_, i) => i));
  expect(leases.get("c")!.owned()).toEqual([]);
});
