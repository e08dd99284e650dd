// Cluster metrics with real processes: /cluster/metrics on any node equals the sum of every node's /metrics, and a
// stopped node drops out of the totals.
import { describe, expect, test } from "bun:test";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { enrol, sendVia } from "../e2e/helpers.ts";
import { parseExposition, type Parsed } from "../observability/metrics-text.ts";
import { waitFor, type ClusterNode, useTestCluster } from "./harness.ts";

const cluster = useTestCluster({ nodes: 3 });

async function scrape(node: ClusterNode, path: string): Promise<Parsed> {
  const res = await fetch(`${node.proc.url}${path}`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

/** Counter and histogram series of Haven (their cluster aggregator is a sum; gauges like disk free move). */
function summed(p: Parsed): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of p.series) {
    const name = key.slice(0, key.indexOf("{"));
    const family = name.replace(/_(bucket|sum|count)$/, "");
    const type = p.types.get(name) ?? p.types.get(family);
    if (!name.startsWith("haven_") || (type !== "counter" && type !== "histogram")) continue;
    out.set(key, value);
  }
  return out;
}

describe("GET /cluster/metrics (3 real nodes)", () => {
  test("totals equal the sum of the nodes' own /metrics; a stopped node leaves the totals", async () => {
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const r = await enrol(a.ref);
    const sender = new Agent();
    // Different amounts per node, so a total that counted one node twice (or missed one) could not match.
    const perNode: [ClusterNode, number][] = [[a, 1], [b, 2], [c, 3]];
    for (const [n, count] of perNode) for (let i = 0; i < count; i++) expect((await sendVia(n.ref, sender, r.inbox.did, `m${i}`)).reply.status).toBe(202);
    const bad = await fetch(b.proc.url, { method: "POST", headers: { "content-type": ENCRYPTED }, body: "{not json" });
    expect(bad.status).toBe(400);

    const own = await Promise.all(cluster.nodes.map((n) => scrape(n, "/metrics")));
    for (const [i, [, count]] of perNode.entries()) expect(own[i]!.series.get("haven_forwards_accepted_total{}")).toBe(count);
    const expected = new Map<string, number>();
    for (const p of own) for (const [k, v] of summed(p)) expected.set(k, (expected.get(k) ?? 0) + v);

    for (const asked of [a, c]) {
      const total = await scrape(asked, "/cluster/metrics");
      expect(total.series.get("haven_cluster_nodes_reporting{}")).toBe(3);
      const got = summed(total);
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [k, v] of expected) {
        if (k.includes("_sum{")) expect(got.get(k)!).toBeCloseTo(v, 9);
        else expect([k, got.get(k)]).toEqual([k, v]);
      }
      expect(got.get("haven_forwards_accepted_total{}")).toBe(6);
      expect(got.get('haven_forwards_rejected_total{reason="malformed"}')).toBe(1);
      expect(got.get('haven_request_duration_seconds_count{protocol="routing"}')).toBe(6);
    }
    // Cluster gauges sampled from the node's own state: 16 partitions spread over 3 nodes, everyone alive.
    const clusterGauges = await scrape(a, "/cluster/metrics");
    expect(clusterGauges.series.get("haven_leases_held{}")).toBe(cluster.partitions);
    expect(clusterGauges.series.get("haven_partitions_owned{}")).toBe(cluster.partitions);
    expect(clusterGauges.series.get('haven_gossip_members{state="alive"}')).toBe(3);
    expect(clusterGauges.series.get('haven_health_check_ok{check="nats"}')).toBe(3);

    await c.proc.stop();
    await waitFor("node-c gone from the totals", async () => (await scrape(a, "/cluster/metrics")).series.get("haven_cluster_nodes_reporting{}") === 2);
    const after = await scrape(a, "/cluster/metrics");
    expect(after.series.get("haven_forwards_accepted_total{}")).toBe(3);
  }, 60_000);
});
