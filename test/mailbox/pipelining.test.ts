// Pipelined delivers over the SQLite driver: one busy mailbox shares group commits, and reads still see every earlier deliver.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MailboxActor } from "../../src/mailbox/mailbox-actor.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { openSqliteDriver } from "../../src/storage/index.ts";
import type { EnqueueRequest, StoredMessage } from "../../src/storage/types.ts";
import { fixedRandom } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "haven-pipeline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MAILBOX = "did:example:busy";
const enc = new TextEncoder();
let seq = 0;

function req(body: string): EnqueueRequest {
  const id = `m${++seq}`;
  return { id, mailbox: MAILBOX, recipientDid: `${MAILBOX}#key-1`, payload: enc.encode(body), receivedAtMs: 1_000 + seq, expiresAtMs: null, dedupKey: `d-${id}` };
}

function setup(name: string, maxCount = 1000) {
  const driver = openSqliteDriver({ path: join(dir, `${name}.db`) });
  const mailbox = new MailboxActor({ driver, clock: new ManualClock(), random: fixedRandom(0.5), defaultQuota: { maxCount, maxBytes: 1 << 30 } });
  return { driver, mailbox, close: async () => (await mailbox.stop({ drain: false }), await driver.close()) };
}

describe("pipelined deliver", () => {
  test("concurrent delivers to ONE mailbox share commits, keep call order and the quota", async () => {
    // Expected: 100 delivers issued together are stored in call order in far fewer transactions than 100 (before,
    // each waited for the previous one's commit and fsync); the quota of 60 refuses exactly the last 40.
    const { driver, mailbox, close } = setup("one", 60);
    const before = driver.stats().commits;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => mailbox.deliver(req(`b${i}`))));
    expect(results.map((r) => r.result.status)).toEqual([...Array(60).fill("stored"), ...Array(40).fill("quota_exceeded")]);
    expect(driver.stats().commits - before).toBeLessThan(20);
    const listed = await mailbox.list(MAILBOX, { limit: 100 });
    expect(listed.map((m) => new TextDecoder().decode(m.payload))).toEqual(Array.from({ length: 60 }, (_, i) => `b${i}`));
    await close();
  });

  test("a read right after a deliver sees it; a listener that subscribed in between gets it from the read, not twice", async () => {
    // Expected: deliver queued before subscribe is not pushed to the new listener, and the listing that follows the
    // subscription (which waits for queued writes) contains it, so the message arrives exactly once.
    const { mailbox, close } = setup("order");
    const pushed: string[] = [];
    const delivered = mailbox.deliver(req("early"));
    await mailbox.subscribe(MAILBOX, (m: StoredMessage) => {
      pushed.push(new TextDecoder().decode(m.payload));
      return Promise.resolve(true);
    });
    const listed = await mailbox.list(MAILBOX, { limit: 10 });
    expect((await delivered).result.status).toBe("stored");
    expect(listed.map((m) => new TextDecoder().decode(m.payload))).toEqual(["early"]);
    expect(pushed).toEqual([]);
    // A deliver after the subscription is pushed.
    expect((await mailbox.deliver(req("late"))).notified).toBe(1);
    expect(pushed).toEqual(["late"]);
    await close();
  });
});
