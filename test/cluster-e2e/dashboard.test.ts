// The /dashboard page in headless Chromium (Debian `chromium`, driven by playwright-core) against 3 real nodes: it
// lists every node with its partitions, escapes what it shows, and reflects a node being stopped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Agent } from "../support/agent.ts";
import { enrol, sendVia } from "../e2e/helpers.ts";
import { ownershipSettled, startTestCluster, waitFor, type ClusterNode, type TestCluster } from "./harness.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
/** The README's screenshot is refreshed only on request (DASHBOARD_SCREENSHOT=1): a test run must not dirty the tree. */
const SCREENSHOT = join(import.meta.dir, "../../docs/dashboard.png");

let cluster: TestCluster;
let context: BrowserContext;
let profileDir: string;

beforeAll(async () => {
  profileDir = mkdtempSync(join(tmpdir(), "haven-chromium-"));
  const [c, ctx] = await Promise.all([
    startTestCluster({ nodes: 3 }),
    // A persistent context is playwright's way to give Chromium a fresh --user-data-dir of our choosing.
    chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 1000 },
    }),
  ]);
  cluster = c;
  context = ctx;
  await waitFor("every partition served by exactly one node", () => ownershipSettled(cluster.nodes, cluster.partitions));
}, 90_000);

afterAll(async () => {
  await context?.close();
  await cluster?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
}, 30_000);

const rowOf = (page: Page, id: string) => page.locator(`#nodes tr[data-node="${id}"]`);

describe("GET /dashboard in headless Chromium (3 real nodes)", () => {
  test("shows every node, the ring and throughput; a stopped node is shown as gone", async () => {
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("response", (res) => {
      if (res.status() >= 400) errors.push(`${res.status()} ${new URL(res.url()).pathname}`);
    });
    await page.goto(`${a.proc.url}/dashboard?interval=300`);

    // Every node is listed, alive and ready, with its share of the partitions.
    for (const n of cluster.nodes) {
      await rowOf(page, n.id).and(page.locator('[data-state="alive"][data-health="ready"]')).waitFor({ timeout: 15_000 });
    }
    expect(await page.locator("#nodes tbody tr").count()).toBe(3);
    const ring = page.locator("#ring .cell");
    expect(await ring.count()).toBe(cluster.partitions);
    const owners = await ring.evaluateAll((cells) => cells.map((c) => c.getAttribute("data-owner")));
    expect(new Set(owners)).toEqual(new Set(cluster.nodes.map((n) => n.id)));

    // Traffic shows up in the totals (forwards accepted via two different nodes).
    const r = await enrol(b.ref);
    const sender = new Agent();
    const sent = 40;
    for (let i = 0; i < sent; i++) expect((await sendVia((i % 2 === 0 ? b : c).ref, sender, r.inbox.did, `hi ${i}`)).reply.status).toBe(202);
    await page.locator("#delivery dd").first().filter({ hasText: new RegExp(`^${sent}$`) }).waitFor({ timeout: 10_000 });
    await page.locator("#chart-rate polyline").waitFor({ timeout: 10_000 });

    if (process.env.DASHBOARD_SCREENSHOT === "1") await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Stop node-c: the page keeps its row but marks it as no longer alive and not reporting, and its partitions move.
    await c.proc.stop();
    await rowOf(page, c.id).and(page.locator('[data-health="unreachable"]')).waitFor({ timeout: 15_000 });
    expect(await rowOf(page, c.id).getAttribute("data-state")).not.toBe("alive");
    await page.locator("#summary", { hasText: "2 of 2 nodes reporting" }).waitFor({ timeout: 15_000 });
    await page.waitForFunction((id) => {
      const cells = [...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ getAttribute(n: string): string | null }> } }).document.querySelectorAll("#ring .cell")];
      return cells.every((e) => e.getAttribute("data-owner") !== id && e.getAttribute("data-owner") !== "");
    }, c.id, { timeout: 15_000 });
    await page.locator("#changes li", { hasText: `${c.id} →` }).first().waitFor({ timeout: 5_000 });
    for (const n of [a, b]) expect(await rowOf(page, n.id).getAttribute("data-state")).toBe("alive");
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
