// Consistent-hash ring: deterministic assignment, balance, and minimal movement on join and leave.
import { describe, expect, test } from "bun:test";
import { PartitionRing } from "../../src/cluster/ring.ts";

const P = 64;

function moved(a: PartitionRing, b: PartitionRing): number[] {
  return a.movedTo(b);
}

describe("PartitionRing", () => {
  test("assignment depends only on the set of node ids, not their order", () => {
    const a = new PartitionRing(["n1", "n2", "n3"], P);
    const b = new PartitionRing(["n3", "n1", "n2", "n1"], P);
    expect(b.assignments()).toEqual(a.assignments());
    expect(a.nodes).toEqual(["n1", "n2", "n3"]);
  });

  test("every partition has exactly one owner, and ownedBy partitions the range", () => {
    const ring = new PartitionRing(["n1", "n2", "n3"], P);
    const all = [...ring.ownedBy("n1"), ...ring.ownedBy("n2"), ...ring.ownedBy("n3")].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: P }, (_, i) => i));
    for (let p = 0; p < P; p++) expect(["n1", "n2", "n3"]).toContain(ring.ownerOf(p)!);
    // Balance is loose with 64 partitions, but no node may be starved or take most of them.
    for (const n of ["n1", "n2", "n3"]) {
      expect(ring.ownedBy(n).length).toBeGreaterThan(P / 3 / 2);
      expect(ring.ownedBy(n).length).toBeLessThan((P / 3) * 2);
    }
  });

  test("3 -> 4 nodes moves about a quarter, and only to the new node", () => {
    const three = new PartitionRing(["n1", "n2", "n3"], P);
    const four = new PartitionRing(["n1", "n2", "n3", "n4"], P);
    const m = moved(three, four);
    console.log(`3->4 nodes moved ${m.length}/${P} partitions`);
    expect(m.length).toBeGreaterThanOrEqual(P / 4 / 2);
    expect(m.length).toBeLessThanOrEqual((P / 4) * 1.5);
    for (const p of m) expect(four.ownerOf(p)).toBe("n4");
    expect(four.ownedBy("n4")).toEqual(m);
  });

  test("removing a node moves only the partitions it owned", () => {
    const four = new PartitionRing(["a", "b", "c", "d"], P);
    const without = new PartitionRing(["a", "b", "d"], P);
    expect(moved(four, without)).toEqual(four.ownedBy("c"));
    for (const p of four.ownedBy("c")) expect(without.ownerOf(p)).not.toBe("c");
  });

  test("minimal movement holds across many membership sets", () => {
    const ids = ["node-1", "node-2", "node-3", "node-4", "node-5", "node-6", "node-7"];
    for (let n = 1; n < ids.length; n++) {
      const before = new PartitionRing(ids.slice(0, n), P);
      const after = new PartitionRing(ids.slice(0, n + 1), P);
      for (const p of before.movedTo(after)) expect(after.ownerOf(p)).toBe(ids[n]!);
    }
  });

  test("empty ring owns nothing; bad input is rejected", () => {
    const empty = new PartitionRing([], P);
    expect(empty.ownerOf(0)).toBeNull();
    expect(() => empty.ownerOf(P)).toThrow(RangeError);
    expect(() => new PartitionRing(["bad id"], P)).toThrow(RangeError);
    expect(() => new PartitionRing(["a"], 0)).toThrow(RangeError);
    expect(() => new PartitionRing(["a"], P, { vnodes: 0 })).toThrow(RangeError);
  });
});
