// Mailbox actors follow the working set in a real node process: MAILBOX_MAX_ACTORS caps them, idle ones are released, no data lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { enrol, sendVia, status, type Recipient } from "../e2e/helpers.ts";

const MAX_ACTORS = 16;
const MAILBOXES = 24; // more than MAX_ACTORS, so the cap has to evict
const PASSIVATION_DEADLINE_MS = 30_000;

let node: NodeProcess;

beforeAll(async () => {
  node = await startNodeProcess({ env: { MAILBOX_MAX_ACTORS: String(MAX_ACTORS), MAILBOX_ACTOR_IDLE_MS: "300" }, startTimeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await node?.stop();
});

async function liveActors(): Promise<number> {
  const res = await fetch(`${node.url}/metrics`);
  expect(res.status).toBe(200);
  const line = (await res.text()).split("\n").find((l) => l.startsWith("haven_actors_live "));
  expect(line).toBeDefined();
  return Number(line!.split(" ")[1]);
}

describe("mailbox actors in a node process", () => {
  test(
    "never more than MAILBOX_MAX_ACTORS live, all released when idle, and every queued message still counted",
    async () => {
      const m = { url: node.url, did: node.did, wsUrl: node.wsUrl };
      const recipients: Recipient[] = [];
      for (let i = 0; i < MAILBOXES; i++) recipients.push(await enrol(m));
      const sender = new Agent();
      for (const r of recipients) {
        const { reply } = await sendVia(m, sender, r.inbox.did, "memory test");
        expect(reply.status).toBe(202);
      }
      // 24 mailboxes were just written to; the cap evicts the least recently used idle actors as new ones start.
      expect(await liveActors()).toBeLessThanOrEqual(MAX_ACTORS);
      // An evicted actor is rebuilt from storage on its next request: nothing it held is lost.
      for (const r of recipients) expect((await status(m, r)).message_count).toBe(1);
      expect(await liveActors()).toBeLessThanOrEqual(MAX_ACTORS);
      // Idle passivation (MAILBOX_ACTOR_IDLE_MS=300): polled with a deadline, not timed.
      const deadline = Date.now() + PASSIVATION_DEADLINE_MS;
      let live = await liveActors();
      while (live > 0 && Date.now() < deadline) {
        await Bun.sleep(100);
        live = await liveActors();
      }
      expect(live).toBe(0);
      expect((await status(m, recipients[0]!)).message_count).toBe(1);
    },
    120_000,
  );
});
