// DedupIndex (the SQLite driver's in-memory dedup index): agrees with a plain model under seeded random adds and removes.
import { describe, expect, test } from "bun:test";
import { DedupIndex } from "../../src/storage/sqlite/dedup-index.ts";
import { Rng, seedFromEnv } from "../support/random.ts";

/** Every rowid the index offers for `tag` (find stops early only when visit returns true). */
function candidates(ix: DedupIndex, tag: number): number[] {
  const seen: number[] = [];
  ix.find(tag, (rowid) => {
    seen.push(rowid);
    return false;
  });
  return seen.sort((a, b) => a - b);
}

describe("DedupIndex", () => {
  test("matches a model under random adds and removes, with colliding tags, growth and shrinking", () => {
    // Expected: for every tag, exactly the live rowids added under it are offered, whatever the collisions,
    // wrap-arounds, backward shifts and resizes in between.
    const seed = seedFromEnv();
    console.log(`dedup-index model test: SEED=${seed}`);
    const rng = new Rng(seed);
    const ix = new DedupIndex(1n);
    const model = new Map<number, Set<number>>();
    const live: { tag: number; rowid: number }[] = [];
    let nextRowid = 1;
    // Few distinct tags, many sharing low bits: long probe runs, runs that wrap past the last slot, and exact repeats.
    const tagPool = Array.from({ length: 64 }, (_, i) => (i % 4 === 0 ? -1 - i : (i * 1024 + 1023) | 0));
    for (let step = 0; step < 40_000; step++) {
      // Grow to ~6k entries, then drain: both resize directions run.
      const adding = step < 20_000 ? rng.bool(0.65) : rng.bool(0.3);
      if (adding || live.length === 0) {
        const tag = rng.bool(0.5) ? rng.pick(tagPool) : rng.u32() | 0;
        const rowid = nextRowid++;
        ix.add(tag, rowid);
        live.push({ tag, rowid });
        if (!model.has(tag)) model.set(tag, new Set());
        model.get(tag)!.add(rowid);
      } else {
        const at = rng.int(live.length);
        const { tag, rowid } = live[at]!;
        live[at] = live[live.length - 1]!;
        live.pop();
        expect(ix.remove(tag, rowid)).toBe(true);
        expect(ix.remove(tag, rowid)).toBe(false); // gone
        model.get(tag)!.delete(rowid);
      }
      if (step % 997 === 0) {
        for (const [tag, rowids] of model) expect(candidates(ix, tag)).toEqual([...rowids].sort((a, b) => a - b));
      }
      expect(ix.size).toBe(live.length);
    }
    for (const [tag, rowids] of model) expect(candidates(ix, tag)).toEqual([...rowids].sort((a, b) => a - b));
    expect(ix.capacity).toBeLessThan(16_384); // shrank after the drain (peak ~6k entries needed 8k-16k slots)
  });

  test("find stops at the first confirmed candidate and returns it; 0 when none is confirmed", () => {
    const ix = new DedupIndex(7n);
    ix.add(5, 10);
    ix.add(5, 11);
    ix.add(5, 12);
    const visited: number[] = [];
    expect(ix.find(5, (r) => (visited.push(r), r === 11))).toBe(11);
    expect(visited).toEqual([10, 11]);
    expect(ix.find(5, () => false)).toBe(0);
    expect(ix.find(6, () => true)).toBe(0);
  });

  test("tags depend on the mailbox, the key and the seed", () => {
    const a = new DedupIndex(1n);
    const b = new DedupIndex(2n);
    expect(a.tagOf(1, "k")).toBe(a.tagOf(1, "k"));
    expect(a.tagOf(1, "k")).not.toBe(a.tagOf(2, "k"));
    expect(a.tagOf(1, "k")).not.toBe(a.tagOf(1, "k2"));
    expect(a.tagOf(1, "k")).not.toBe(b.tagOf(1, "k"));
  });

  test("refuses rowids that cannot be stored", () => {
    const ix = new DedupIndex();
    expect(() => ix.add(1, 0)).toThrow(RangeError);
    expect(() => ix.add(1, -3)).toThrow(RangeError);
    expect(() => ix.add(1, 1.5)).toThrow(RangeError);
  });
});
