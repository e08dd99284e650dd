// The local journal file: append order, outbox vs retained, pruning, durability across reopen.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { JournalStore } from "../../src/replication/journal-store.ts";
import { tempDir } from "./helpers.ts";

const dirs: { cleanup(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

function open(): { store: JournalStore; path: string } {
  const t = tempDir();
  dirs.push(t);
  const path = join(t.dir, "journal.sqlite");
  return { store: new JournalStore({ path }, 1000), path };
}

describe("JournalStore", () => {
  test("concurrent appends share group commits and keep call order", async () => {
    const { store } = open();
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`d${i}`, "haven.mail.1", new Uint8Array([i]), 1)));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(store.pending(0, 100).map((r) => r.dedupId)).toEqual(Array.from({ length: 50 }, (_, i) => `d${i}`));
    store.close();
  });

  test("published rows leave the outbox, stay retained until pruned", async () => {
    const { store, path } = open();
    const a = await store.append("a", "haven.mail.1", new Uint8Array([1]), 1);
    const b = await store.append("b", "haven.mail.2", new Uint8Array([2]), 1);
    await store.markPublished(a, 41, 5000);
    expect(store.pendingSeqs()).toEqual([b]);
    expect(store.retained(0, 10).map((r) => [r.dedupId, r.streamSeq])).toEqual([["a", 41]]);
    expect(store.highestStreamSeq()).toBe(41);
    expect(await store.pruneOlderThan(4999, 10)).toBe(0);
    store.close();
    // durable across reopen
    const again = new JournalStore({ path }, 2000);
    expect(again.pendingSeqs()).toEqual([b]);
    expect(await again.pruneOlderThan(5000, 10)).toBe(1);
    expect(again.size()).toBe(1);
    again.close();
  });

  test("closed store rejects with closed", async () => {
    const { store } = open();
    store.close();
    await expect(store.append("a", "s", new Uint8Array(), 1)).rejects.toMatchObject({ code: "closed" });
    expect(() => store.pendingSeqs()).toThrow();
  });
});
