// A real single node: the mailbox gauges (count, queued messages and bytes, deepest, fullest vs quota) follow
// forwards, and no series carries a DID.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { Agent } from "../support/agent.ts";
import { enrol, sendVia } from "../e2e/helpers.ts";
import { parseExposition } from "./metrics-text.ts";

let node: HavenNode;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "haven-mbx-gauges-"));
  const base = loadConfig({ DATA_DIR: dir, HOST: "127.0.0.1", MAILBOX_MAX_MESSAGES: "10" });
  const config: Config = { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
  node = await createNode(config, { logger: createLogger({ level: "silent" }) });
}, 30_000);

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function scrape(): Promise<{ series: Map<string, number>; text: string }> {
  const res = await fetch(`${node.url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { series: parseExposition(text).series, text };
}

describe("mailbox gauges (single node)", () => {
  test("count, depth, bytes and fill ratio follow stored forwards", async () => {
    let { series: m } = await scrape();
    expect(m.get("haven_mailboxes{}")).toBe(0);
    expect(m.get("haven_mailbox_messages{}")).toBe(0);
    expect(m.get("haven_mailbox_fill_ratio_max{}")).toBe(0);

    const a = await enrol(node);
    const b = await enrol(node);
    const sender = new Agent();
    for (const text of ["1", "2", "3"]) expect((await sendVia(node, sender, a.inbox.did, text)).reply.status).toBe(202);
    expect((await sendVia(node, sender, b.inbox.did, "x")).reply.status).toBe(202);

    const { series, text } = await scrape();
    m = series;
    expect(m.get("haven_mailboxes{}")).toBe(2);
    expect(m.get("haven_mailbox_messages{}")).toBe(4);
    expect(m.get("haven_mailbox_bytes{}")).toBeGreaterThan(0);
    expect(m.get("haven_mailbox_depth_max_messages{}")).toBe(3);
    // MAILBOX_MAX_MESSAGES=10 and a few KB against the default byte quota: the count ratio dominates.
    expect(m.get("haven_mailbox_fill_ratio_max{}")).toBeCloseTo(0.3, 5);
    expect(text).not.toContain("did:");
  }, 60_000);
});
