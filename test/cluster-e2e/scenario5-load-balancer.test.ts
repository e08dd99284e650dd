// The test load balancer of scenarios 5 and 6 against stub backends: when it fails over, and what it counts as failed.
import { afterEach, describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { TestLoadBalancer } from "./load-balancer.ts";

type Answer = () => Response;
const servers: ReturnType<typeof Bun.serve>[] = [];
let lb: TestLoadBalancer | undefined;

/** A backend whose readiness is 200 and whose POST / answers with `post()`; counts the POSTs it got. */
function backend(id: string, post: Answer): { id: string; url: string; posts: () => number; stop: () => void } {
  let posts = 0;
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (new URL(req.url).pathname === "/health/ready") return new Response("{}", { status: 200 });
      posts++;
      return post();
    },
  });
  servers.push(srv);
  return { id, url: `http://127.0.0.1:${srv.port}`, posts: () => posts, stop: () => void srv.stop(true) };
}

const accepted: Answer = () => new Response(null, { status: 202 });
const shuttingDown: Answer = () => Response.json({ error: "shutting_down", reason: "the node is shutting down" }, { status: 503 });

afterEach(async () => {
  await lb?.stop();
  lb = undefined;
  for (const s of servers.splice(0)) s.stop(true);
});

/** A long health period: the test decides what the balancer knows, the background probe does not race it. */
async function balancer(...bs: { id: string; url: string }[]): Promise<TestLoadBalancer> {
  lb = new TestLoadBalancer(bs, { healthIntervalMs: 5_000 });
  await lb.start();
  return lb;
}

describe("test load balancer", () => {
  test("503 shutting_down: fails over once to another ready backend, which answers", async () => {
    const a = backend("a", shuttingDown);
    const b = backend("b", accepted);
    const l = await balancer(a, b);
    const reply = await l.post(new Agent(), "x", "m1"); // round-robin starts with a
    expect(reply?.status).toBe(202);
    expect(reply?.backend.id).toBe("b");
    expect(l.counters).toEqual({ requests: 1, succeeded: 1, failovers: 1, failed: 0 });
    // a is out until its next probe: the next request goes straight to b.
    expect((await l.post(new Agent(), "x", "m2"))?.backend.id).toBe("b");
    expect([a.posts(), b.posts()]).toEqual([1, 2]);
  });

  test("connection refused (listener closed after the last probe): fails over", async () => {
    const a = backend("a", accepted);
    const b = backend("b", accepted);
    const l = await balancer(a, b);
    a.stop();
    const reply = await l.post(new Agent(), "x", "m1");
    expect(reply?.backend.id).toBe("b");
    expect(l.counters).toEqual({ requests: 1, succeeded: 1, failovers: 1, failed: 0 });
  });

  test("the failover's answer is final, and other errors are never retried", async () => {
    const a = backend("a", shuttingDown);
    const b = backend("b", shuttingDown);
    const l = await balancer(a, b);
    expect(await l.post(new Agent(), "x", "m1")).toBeNull();
    expect(l.counters).toEqual({ requests: 1, succeeded: 0, failovers: 1, failed: 1 });

    const c = backend("c", () => new Response("boom", { status: 500 }));
    const d = backend("d", accepted);
    const l2 = await balancer(c, d);
    expect(await l2.post(new Agent(), "x", "m2")).toBeNull();
    expect(l2.counters).toEqual({ requests: 1, succeeded: 0, failovers: 0, failed: 1 });
    expect(d.posts()).toBe(0);
    expect(l2.failures[0]).toContain("HTTP 500");
  });
});
