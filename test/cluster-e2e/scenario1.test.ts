// Cluster scenario 1 (real processes): mediate via node A, forward via node B, pick up and live mode via node C.
import { describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { bodyOf, contentOf, deliver, enrol, openDelivery, received, sendVia, status, T } from "../e2e/helpers.ts";
import { partitionOf } from "../../src/cluster/partition.ts";
import type { MediatorRef } from "../support/agent.ts";
import { clusterStatus, servingNode, waitFor, type ClusterNode, useTestCluster } from "./harness.ts";

const cluster = useTestCluster({ nodes: 3 });

/**
 * Node roles for one mailbox: C is a node that does NOT own the mailbox's partition (so pickup and live mode
 * really cross nodes), A and B are the other two.
 */
async function roles(mailbox: string): Promise<{ a: MediatorRef; b: MediatorRef; c: MediatorRef; cNode: ClusterNode; owner: ClusterNode }> {
  const owner = await servingNode(cluster.nodes, partitionOf(mailbox, cluster.partitions));
  if (owner === undefined) throw new Error("no single owner for the mailbox's partition");
  const others = cluster.nodes.filter((n) => n !== owner);
  const cNode = others[0]!;
  return { a: owner.ref, b: others[1]!.ref, c: cNode.ref, cNode, owner };
}

async function routedRemote(n: ClusterNode): Promise<number> {
  return ((await clusterStatus(n)) as unknown as { routing: { routedRemote: number } }).routing.routedRemote;
}

describe("scenario 1: any node serves any agent", () => {
  test("mediate via A, forward via B, pick up via C; confirmed messages are gone everywhere", async () => {
    const r = await enrol(cluster.nodes[0]!.ref);
    const { a, b, c, cNode } = await roles(r.control.did);
    expect((await enrol(a)).control.did).not.toBe(r.control.did); // A mediates too (another client)
    const routedBefore = await routedRemote(cNode);
    const sender = new Agent();
    const texts = ["one", "two", "three"];
    for (const text of texts) expect((await sendVia(b, sender, r.inbox.did, text)).reply.status).toBe(202);

    // Accepted on B means durable in the stream; the owner applies it asynchronously, so C sees it shortly after.
    await waitFor("all three messages visible via C", async () => (await status(c, r)).message_count === 3);
    const got = await deliver(c, r);
    expect(got.map(contentOf)).toEqual(texts);

    const ack = await received(c, r, got.map((d) => d.storedId));
    expect(ack.type).toBe(T.status);
    expect(bodyOf(ack).message_count).toBe(0);
    // Confirmed means gone, whichever node is asked.
    for (const m of [a, b, c]) expect(await deliver(m, r)).toEqual([]);
    expect(await routedRemote(cNode)).toBeGreaterThan(routedBefore); // C really asked the owner
  }, 60_000);

  test("live mode on C receives forwards accepted by A and B; pushed messages stay until confirmed", async () => {
    const r = await enrol(cluster.nodes[1]!.ref);
    const { a, b, c, cNode } = await roles(r.control.did);
    const sender = new Agent();
    const ws = await r.control.connect(c);
    try {
      ws.send(await r.control.pack(r.control.message(T.liveDeliveryChange, { live_delivery: true }, c.did), c.did));
      const st = await ws.next();
      expect(st.type).toBe(T.status);
      expect(bodyOf(st).live_delivery).toBe(true);

      expect((await sendVia(a, sender, r.inbox.did, "live via A")).reply.status).toBe(202);
      const [first] = await openDelivery(r, await ws.next(10_000));
      expect(contentOf(first!)).toBe("live via A");
      expect((await sendVia(b, sender, r.inbox.did, "live via B")).reply.status).toBe(202);
      const [second] = await openDelivery(r, await ws.next(10_000));
      expect(contentOf(second!)).toBe("live via B");

      const live = (await clusterStatus(cNode)) as unknown as { routing: { liveSubscriptions: number } };
      expect(live.routing.liveSubscriptions).toBe(1); // held on C, attached to the owner
      // Pushed is not confirmed: both are still stored, visible from any node.
      expect((await status(b, r)).message_count).toBe(2);
      const ack = r.control.message(T.messagesReceived, { message_id_list: [first!.storedId, second!.storedId] }, c.did);
      ws.send(await r.control.pack(ack, c.did));
      const after = await ws.next();
      expect(after.type).toBe(T.status);
      expect(bodyOf(after).message_count).toBe(0);
    } finally {
      await ws.close();
    }
    expect(await deliver(a, r)).toEqual([]);
  }, 60_000);
});
