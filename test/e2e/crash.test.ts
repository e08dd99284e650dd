// E2E crash test: kill -9 the node while concurrent clients POST forwards; after restart every 202'd forward is there exactly once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { contentOf, deliver, enrol, packVia, received, type Recipient } from "./helpers.ts";

/** Forwards prepared before the run; the kill comes after KILL_AFTER_ACKS of them were acknowledged. */
const TOTAL_FORWARDS = 400;
const KILL_AFTER_ACKS = 150;
const CLIENTS = 8;
const PICKUP_PAGE = 50;

let node: NodeProcess;
beforeAll(async () => {
  // The default per-connection rate limit would turn this burst into 429s; the test is about durability.
  node = await startNodeProcess({ env: { RATE_LIMIT_PER_CONNECTION: "100000" } });
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

/** Drains a mailbox completely (delivery pages, each acknowledged), returning every message's content. */
async function drain(r: Recipient): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < TOTAL_FORWARDS; round++) {
    const page = await deliver(node, r, PICKUP_PAGE);
    if (page.length === 0) return out;
    out.push(...page.map(contentOf));
    await received(node, r, page.map((d) => d.storedId));
  }
  throw new Error("mailbox did not drain");
}

test(
  "every forward acknowledged with 202 before kill -9 is in the mailbox exactly once after restart",
  async () => {
    const recipients = [await enrol(node), await enrol(node)];
    const sender = new Agent();
    const bodies: { content: string; to: number; packed: string }[] = [];
    for (let i = 0; i < TOTAL_FORWARDS; i++) {
      const to = i % recipients.length;
      const content = `crash-${i}`;
      bodies.push({ content, to, packed: (await packVia(sender, recipients[to]!.inbox.did, content)).packed });
    }

    const acked = new Set<string>();
    let next = 0;
    let killed: Promise<number | null> | undefined;
    let otherStatuses = 0;
    const client = async () => {
      while (next < bodies.length) {
        const b = bodies[next++]!;
        let status: number;
        try {
          const res = await fetch(node.url, {
            method: "POST",
            headers: { "content-type": "application/didcomm-encrypted+json" },
            body: b.packed,
            signal: AbortSignal.timeout(10_000),
          });
          status = res.status;
          await res.arrayBuffer();
        } catch {
          if (killed) return; // the node is gone: this request's fate is unknown, so it proves nothing either way
          throw new Error("request failed before the kill");
        }
        if (status === 202) {
          acked.add(b.content);
          if (acked.size === KILL_AFTER_ACKS && !killed) killed = node.kill("SIGKILL");
        } else if (!killed) otherStatuses++;
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    expect(killed).toBeDefined(); // the kill really happened mid-stream
    expect(otherStatuses).toBe(0);
    const exit = await killed!;
    expect(exit).toBeNull(); // died by the signal, not a clean exit
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    console.log(`crash: ${acked.size} forwards acknowledged before/around kill -9 (of ${TOTAL_FORWARDS})`);

    await node.restart();
    const perMailbox = await Promise.all(recipients.map(drain));
    const toOf = new Map(bodies.map((b) => [b.content, b.to]));
    const counts = new Map<string, number>();
    for (const [i, contents] of perMailbox.entries()) {
      for (const c of contents) {
        counts.set(c, (counts.get(c) ?? 0) + 1);
        expect({ c, mailbox: toOf.get(c) }).toEqual({ c, mailbox: i }); // only what was sent, in the right mailbox
      }
    }
    // Nothing is ever stored twice.
    const twice = [...counts].filter(([, n]) => n !== 1);
    expect(twice).toEqual([]);
    // Every acknowledged forward survived the kill.
    const missing = [...acked].filter((c) => !counts.has(c));
    expect(missing).toEqual([]);
  },
  60_000,
);
