// Graceful leave (SIGTERM) under forward load: the node hands its partitions over before it exits, no request
// to the other nodes fails, and every acknowledged forward is delivered exactly once afterwards.
import { describe, expect, test } from "bun:test";
import { partitionOf } from "../../src/cluster/partition.ts";
import { Agent } from "../support/agent.ts";
import { contentOf, deliver, enrol, received, sendVia, type Recipient } from "../e2e/helpers.ts";
import { ownershipSettled, servingNode, waitFor, type ClusterNode, useTestCluster } from "./harness.ts";

const cluster = useTestCluster({ nodes: 3 });

async function drainMailbox(via: ClusterNode, r: Recipient): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await deliver(via.ref, r, 100);
    if (got.length === 0) return out;
    out.push(...got.map(contentOf));
    await received(via.ref, r, got.map((d) => d.storedId));
  }
}

describe("graceful leave", () => {
  test("SIGTERM hands the node's mailboxes over; the other nodes never fail a request", async () => {
    const nodes = cluster.nodes;
    const recipients: Recipient[] = [];
    for (let i = 0; i < 4; i++) recipients.push(await enrol(nodes[i % nodes.length]!.ref));
    const leaver = await servingNode(nodes, partitionOf(recipients[0]!.control.did, cluster.partitions));
    if (leaver === undefined) throw new Error("no single owner for recipient 0");
    const stayers = nodes.filter((n) => n !== leaver);

    const sender = new Agent();
    const acked: string[] = [];
    let stopped = false;
    let i = 0;
    const load = async (): Promise<void> => {
      // Through the stayers only (a load balancer stops routing to a node once its readiness fails).
      while (!stopped || i < 200) {
        const n = i++;
        const via = stayers[n % stayers.length]!;
        const r = recipients[n % recipients.length]!;
        const { reply } = await sendVia(via.ref, sender, r.inbox.did, `g-${n}`);
        expect(reply.status).toBe(202);
        acked.push(`g-${n}`);
        // Reads during the handover too: routed to whoever serves the mailbox at that moment.
        if (n % 10 === 0) expect((await deliver(via.ref, recipients[0]!, 1)).length).toBeLessThanOrEqual(1);
      }
    };
    const running = Promise.all([load(), load(), load()]);
    await waitFor("some load before the leave", () => acked.length >= 30);
    const exitCode = await leaver.proc.kill("SIGTERM");
    stopped = true;
    await running;
    expect(exitCode).toBe(0);

    await waitFor("stayers serve every partition", () => ownershipSettled(stayers, cluster.partitions), 20_000);
    const delivered: string[] = [];
    for (const r of recipients) delivered.push(...(await drainMailbox(stayers[0]!, r)));
    expect(delivered.length).toBe(new Set(delivered).size);
    expect(new Set(delivered)).toEqual(new Set(acked));
  }, 120_000);
});
