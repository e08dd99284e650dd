// SQLite event queue and DLQ: enqueue idempotence, due order and partitions, reschedule, complete, dead-letter, paging, replay, durability.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/runtime/clock.ts";
import { DeliveryError, SqliteEventQueue, type NewDeliveryEvent } from "../../src/delivery/index.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(clock = new ManualClock()): { q: SqliteEventQueue; clock: ManualClock; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "haven-delivery-"));
  dirs.push(dir);
  const path = join(dir, "delivery.sqlite");
  return { q: new SqliteEventQueue({ path, clock }), clock, path };
}

function ev(id: string, over: Partial<NewDeliveryEvent> = {}): NewDeliveryEvent {
  return { id, kind: "webhook", mailbox: "did:example:m", partition: 1, url: "https://h.example/hook", body: new TextEncoder().encode(`{"id":"${id}"}`), contentType: "application/json", signingRef: "did:example:r", ...over };
}

describe("SqliteEventQueue", () => {
  test("enqueue is idempotent by id, also after delivery and while dead-lettered", async () => {
    const { q } = open();
    expect(await q.enqueue(ev("a"))).toBe(true);
    expect(await q.enqueue(ev("a"))).toBe(false);
    await q.complete("a");
    expect(await q.enqueue(ev("a"))).toBe(false);
    expect(await q.enqueue(ev("b"))).toBe(true);
    await q.deadLetter("b", "permanent_http_404");
    expect(await q.enqueue(ev("b"))).toBe(false);
    expect(await q.size()).toBe(0);
    q.close();
  });

  test("due: earliest first, respects nextAtMs, limit and partitions; events round-trip", async () => {
    const { q, clock } = open();
    const now = clock.nowMs();
    await q.enqueue(ev("late", { notBeforeMs: now + 500 }));
    await q.enqueue(ev("p2", { partition: 2 }));
    await q.enqueue(ev("p1"));
    const all = await q.due(now, 10);
    expect(all.map((e) => e.id)).toEqual(["p2", "p1"]);
    expect(all[1]).toMatchObject({ kind: "webhook", destination: "https://h.example:443", attempts: 0, signingRef: "did:example:r", lastError: null });
    expect(new TextDecoder().decode(all[1]!.body)).toBe('{"id":"p1"}');
    expect((await q.due(now, 1)).length).toBe(1);
    expect((await q.due(now, 10, { partitions: new Set([1]) })).map((e) => e.id)).toEqual(["p1"]);
    expect((await q.due(now + 500, 10)).map((e) => e.id)).toEqual(["p2", "p1", "late"]);
    expect(await q.nextDueAtMs({ partitions: new Set([1]) })).toBe(now);
    expect(await q.nextDueAtMs({ partitions: new Set([7]) })).toBeNull();
    await q.reschedule("p1", now + 100, 2, "http_503");
    const again = await q.due(now + 100, 10, { partitions: new Set([1]) });
    expect(again[0]).toMatchObject({ id: "p1", attempts: 2, lastError: "http_503", nextAtMs: now + 100 });
    q.close();
  });

  test("bad input is a DeliveryError; unknown ids are NotFound", async () => {
    const { q } = open();
    await expect(q.enqueue(ev("x", { url: "ftp://nope/" }))).rejects.toThrow(DeliveryError);
    await expect(q.enqueue(ev("", {}))).rejects.toThrow(DeliveryError);
    await expect(q.enqueue(ev("y", { body: new Uint8Array(2 * 2 ** 20) }))).rejects.toThrow(DeliveryError);
    await expect(q.reschedule("nope", 1, 1)).rejects.toMatchObject({ code: "not_found" });
    await expect(q.deadLetter("nope", "x")).rejects.toMatchObject({ code: "not_found" });
    await expect(q.due(0, 0)).rejects.toThrow(DeliveryError);
    q.close();
  });

  test("DLQ: paged listing, replay by id and all, attempts reset", async () => {
    const { q, clock } = open();
    for (let i = 0; i < 5; i++) {
      await q.enqueue(ev(`d${i}`));
      await q.reschedule(`d${i}`, clock.nowMs(), 3, "http_500");
      await q.deadLetter(`d${i}`, "attempts_exhausted_http_500");
    }
    expect(await q.size()).toBe(0);
    const p1 = await q.list({ limit: 2 });
    expect(p1.items.map((d) => d.id)).toEqual(["d0", "d1"]);
    expect(p1.items[0]).toMatchObject({ reason: "attempts_exhausted_http_500", attempts: 3 });
    const p2 = await q.list({ limit: 2, after: p1.next });
    const p3 = await q.list({ limit: 2, after: p2.next });
    expect([...p2.items, ...p3.items].map((d) => d.id)).toEqual(["d2", "d3", "d4"]);
    expect(p3.next).toBeNull();
    await expect(q.list({ after: "garbage" })).rejects.toThrow(DeliveryError);

    clock.advance(1000);
    expect(await q.replay(["d1", "d3", "missing"], clock.nowMs())).toBe(2);
    expect(await q.size()).toBe(2);
    const due = await q.due(clock.nowMs(), 10);
    expect(due.map((e) => [e.id, e.attempts, e.nextAtMs])).toEqual([
      ["d1", 0, clock.nowMs()],
      ["d3", 0, clock.nowMs()],
    ]);
    expect(await q.replay("all", clock.nowMs())).toBe(3);
    expect(await q.size()).toBe(5);
    expect((await q.list()).items).toEqual([]);
    q.close();
  });

  test("durable across reopen (WAL file)", async () => {
    const { q, path, clock } = open();
    await q.enqueue(ev("keep"));
    await q.enqueue(ev("dead"));
    await q.deadLetter("dead", "x");
    q.close();
    const q2 = new SqliteEventQueue({ path, clock });
    expect((await q2.due(clock.nowMs(), 10)).map((e) => e.id)).toEqual(["keep"]);
    expect(await q2.size()).toBe(1);
    expect((await q2.list()).items.map((d) => d.id)).toEqual(["dead"]);
    q2.close();
  });
});
