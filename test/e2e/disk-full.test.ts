// Disk full on a single node (no NATS): a real node process whose haven.sqlite cannot grow refuses forwards as retryable, loses nothing acknowledged, keeps serving reads, and accepts again once space is freed.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { contentOf, deliver, enrol, packVia, received, type Recipient } from "./helpers.ts";

/**
 * Expected (docs/RELIABILITY.md 3.4 / OPERATIONS.md "Disk full"): a write settles only after its fsynced commit, so
 * once SQLite cannot allocate a page (SQLITE_FULL, "database or disk is full") every forward that needs space is
 * refused with a retryable 503 carrying Retry-After and is never answered 202 (a failed group-commit batch rejects all
 * its writes); everything acknowledged before stays stored and is picked up at the end; the node stays up and keeps
 * serving reads (liveness, delivery-request); after space is freed, forwards are accepted again (recovery time
 * printed, not asserted). Readiness is observed and printed, not asserted (see the comment at the readiness call).
 */

/** Written by test/e2e/disk-full-entry.ts's SIGUSR2 handler (kept in sync with that file). */
const CAP_FILE = "disk-full-cap";
const APPLIED_FILE = "disk-full-cap.applied";
const ENTRY = "test/e2e/disk-full-entry.ts";

const BEFORE_FULL = 20;
/** Forwards sent concurrently, so refusals also come from batches of several writes. */
const CLIENTS = 4;
/** Bound on forwards sent while waiting for the first refusal (the cap stops growth at once: a few pages at most). */
const MAX_FILL_FORWARDS = 400;
/** Forwards sent once full (after the first refusal); all must be refused while the cap holds. */
const WHILE_FULL = 40;
/** Content padded to one size, so "it did not fit" holds for every later forward too. */
const CONTENT_CHARS = 1_500;

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess({ entry: ENTRY, env: { RATE_LIMIT_PER_CONNECTION: "100000" } });
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

interface Outcome {
  content: string;
  to: number;
  status: number | "error";
  retryAfter: string | null;
}

async function post(packed: string): Promise<{ status: number | "error"; retryAfter: string | null }> {
  try {
    const res = await fetch(node.url, { method: "POST", headers: { "content-type": "application/didcomm-encrypted+json" }, body: packed, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return { status: res.status, retryAfter: res.headers.get("retry-after") };
  } catch {
    return { status: "error", retryAfter: null };
  }
}

/** Sets the cap ("full" or "free") through the entry's SIGUSR2 handler and waits until it reports it applied. */
async function setCap(mode: "full" | "free"): Promise<{ pageCount: number; maxPageCount: number }[]> {
  const applied = join(node.dataDir, APPLIED_FILE);
  writeFileSync(applied, "");
  writeFileSync(join(node.dataDir, CAP_FILE), mode);
  process.kill(node.pid, "SIGUSR2");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = readFileSync(applied, "utf8");
    if (text !== "") {
      const a = JSON.parse(text) as { mode: string; connections: { pageCount: number; maxPageCount: number }[]; error?: string };
      expect(a.error).toBeUndefined();
      expect(a.mode).toBe(mode);
      expect(a.connections.length).toBeGreaterThan(0); // the entry really found the node's haven.sqlite connection
      return a.connections;
    }
    if (Date.now() > deadline) throw new Error(`the node did not apply cap ${mode}`);
    await Bun.sleep(20);
  }
}

async function readiness(): Promise<{ status: number; checks: { name: string; status: string; detail: string }[] }> {
  const res = await fetch(`${node.url}/health/ready`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { checks?: { name: string; status: string; detail: string }[] };
  return { status: res.status, checks: body.checks ?? [] };
}

/** Drains a mailbox completely (pages acknowledged), returning every message's content. */
async function drain(r: Recipient): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < 1_000; round++) {
    const page = await deliver(node, r, 50);
    if (page.length === 0) return out;
    out.push(...page.map(contentOf));
    await received(node, r, page.map((d) => d.storedId));
  }
  throw new Error("mailbox did not drain");
}

test(
  "a node whose database cannot grow refuses forwards with 503 + Retry-After (never 202), loses nothing acknowledged, keeps serving reads, accepts again after space is freed",
  async () => {
    const recipients = [await enrol(node), await enrol(node)];
    const sender = new Agent();
    let seq = 0;
    const next = async (phase: string) => {
      const i = seq++;
      const to = i % recipients.length;
      const content = `${phase}-${String(i).padStart(6, "0")}-`.padEnd(CONTENT_CHARS, "x");
      return { content, to, packed: (await packVia(sender, recipients[to]!.inbox.did, content)).packed };
    };
    const outcomes: Outcome[] = [];
    const send = async (phase: string): Promise<Outcome> => {
      const b = await next(phase);
      const o = { content: b.content, to: b.to, ...(await post(b.packed)) };
      outcomes.push(o);
      return o;
    };

    // 1. Space available: acknowledged forwards.
    for (let i = 0; i < BEFORE_FULL; i++) expect((await send("before")).status).toBe(202);

    // 2. The database stops growing; forward (concurrently) until the first refusal.
    const capped = await setCap("full");
    console.log(`disk-full: cap applied ${JSON.stringify(capped)}`);
    let firstRefusal: Outcome | undefined;
    let fillSent = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (firstRefusal === undefined && fillSent < MAX_FILL_FORWARDS) {
          fillSent++;
          const o = await send("fill");
          if (o.status !== 202) firstRefusal ??= o;
        }
      }),
    );
    expect(firstRefusal).toBeDefined();
    const fill = outcomes.filter((o) => o.content.startsWith("fill"));
    console.log(`disk-full: ${fill.filter((o) => o.status === 202).length} of ${fill.length} fill forwards accepted before the first refusal (${firstRefusal!.status}, Retry-After ${firstRefusal!.retryAfter})`);

    // 3. Full: every forward is refused as retryable, none acknowledged; the node keeps serving reads.
    const fullOutcomes = (
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          const mine: Outcome[] = [];
          for (let i = 0; i < WHILE_FULL / CLIENTS; i++) mine.push(await send("full"));
          return mine;
        }),
      )
    ).flat();
    const refusals = [...fill.filter((o) => o.status !== 202), ...fullOutcomes];
    expect(refusals.map((o) => ({ status: o.status, retryAfter: o.retryAfter !== null && Number(o.retryAfter) >= 1 }))).toEqual(refusals.map(() => ({ status: 503, retryAfter: true })));
    expect(fullOutcomes.filter((o) => o.status === 202).length).toBe(0);
    expect((await fetch(`${node.url}/health/live`)).status).toBe(200);
    const peek = await deliver(node, recipients[0]!, 5); // a read while full: messages are served (not confirmed here)
    expect(peek.length).toBeGreaterThan(0);
    const ready = await readiness();
    const storage = ready.checks.find((c) => c.name === "storage");
    console.log(`disk-full: while full GET /health/ready ${ready.status}; checks ${JSON.stringify(ready.checks.map((c) => `${c.name}=${c.status}`))}; storage detail ${JSON.stringify(storage?.detail)}`);
    // The `storage` check's own probe (an in-place rewrite of one row) needs no new page and still succeeds, but the
    // check also reports that real writes are failing, so a balancer stops sending forwards here.
    expect(ready.status).toBe(503);
    expect(storage?.status).not.toBe("ok");
    expect(String(storage?.detail)).toContain("full");

    // 4. Space freed: forwards are accepted again.
    const freedAtMs = performance.now();
    await setCap("free");
    let firstAcceptMs: number | undefined;
    for (let i = 0; i < 200 && firstAcceptMs === undefined; i++) {
      const o = await send("after");
      if (o.status === 202) firstAcceptMs = performance.now() - freedAtMs;
      else await Bun.sleep(50); // a sender's back-off after a refusal
    }
    expect(firstAcceptMs).toBeDefined();
    console.log(`recovery: freed -> first 202=${Math.round(firstAcceptMs!)} ms`);
    // Readiness comes back once no write has failed for the storage check's window (10 s).
    let readyAfterMs: number | undefined;
    for (let i = 0; i < 300 && readyAfterMs === undefined; i++) {
      if ((await readiness()).status === 200) readyAfterMs = performance.now() - freedAtMs;
      else await Bun.sleep(100);
    }
    expect(readyAfterMs).toBeDefined();
    console.log(`recovery: freed -> /health/ready 200=${Math.round(readyAfterMs!)} ms`);
    for (let i = 0; i < 10; i++) expect((await send("after")).status).toBe(202);

    // 5. Nothing acknowledged is lost; nothing refused was stored; nothing stored twice.
    const perMailbox = await Promise.all(recipients.map(drain));
    const counts = new Map<string, number>();
    for (const [i, contents] of perMailbox.entries()) {
      for (const c of contents) {
        counts.set(c, (counts.get(c) ?? 0) + 1);
        expect({ c: c.slice(0, 20), mailbox: outcomes.find((o) => o.content === c)?.to }).toEqual({ c: c.slice(0, 20), mailbox: i });
      }
    }
    expect([...counts].filter(([, n]) => n !== 1).map(([c]) => c.slice(0, 20))).toEqual([]);
    const acked = outcomes.filter((o) => o.status === 202).map((o) => o.content);
    expect(acked.filter((c) => !counts.has(c)).map((c) => c.slice(0, 20))).toEqual([]);
    const refusedButStored = outcomes.filter((o) => o.status !== 202 && counts.has(o.content)).map((o) => o.content.slice(0, 20));
    expect(refusedButStored).toEqual([]);
    console.log(`disk-full: ${acked.length} acknowledged, ${outcomes.length - acked.length} refused; all acknowledged picked up once, no refused one stored`);
  },
  90_000,
);
