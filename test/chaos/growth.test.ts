// Growth check for the soak and the loss arithmetic: flat passes, steady growth fails, noise within tolerance passes.
import { describe, expect, test } from "bun:test";
import { checkGrowth, median } from "../../scripts/lib/chaos/growth.ts";
import { expectedPerRecipient, lossReport } from "../../scripts/lib/chaos/loss.ts";

const tol = { relative: 0.2, absolute: 10 };

describe("checkGrowth", () => {
  test("flat and noisy within tolerance passes", () => {
    const v = checkGrowth([300, 100, 102, 99, 104, 101, 103, 100, 105, 102], 1, tol);
    expect(v.ok).toBe(true);
    expect(v.samples).toBe(9);
    expect(v.firstMedian).toBe(100);
    expect(v.limit).toBe(130);
  });

  test("steady growth fails", () => {
    const v = checkGrowth(Array.from({ length: 12 }, (_, i) => 100 + i * 10), 0, tol);
    expect(v.ok).toBe(false);
    expect(v.lastMedian).toBeGreaterThan(v.limit);
  });

  test("warm-up is excluded: a start-up ramp does not count as growth", () => {
    const samples = [10, 40, 80, 100, 100, 101, 100, 99, 100, 101];
    expect(checkGrowth(samples, 0, { relative: 0.2, absolute: 0 }).ok).toBe(false);
    expect(checkGrowth(samples, 3, { relative: 0.2, absolute: 0 }).ok).toBe(true);
  });

  test("too few samples is a failure with a reason; non-finite samples are dropped", () => {
    const v = checkGrowth([1, 2, Number.NaN, 3, 4, 5], 0, tol);
    expect(v.ok).toBe(false);
    expect(v.reason).toContain("only 5 samples");
    expect(() => checkGrowth([1], -1, tol)).toThrow(RangeError);
  });

  test("median", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
  });
});

describe("loss arithmetic", () => {
  test("expected per recipient follows envelope i -> recipient i % n", () => {
    const set = new Uint8Array(2);
    for (const i of [0, 1, 2, 5, 9]) set[i >> 3]! |= 1 << (i & 7);
    expect(expectedPerRecipient(set, 10, 3)).toEqual([2, 1, 2]); // 0,9 | 1 | 2,5
    expect(() => expectedPerRecipient(set, 17, 3)).toThrow(RangeError);
  });

  test("a missing message is lost even if another mailbox holds an extra one", () => {
    expect(lossReport([2, 1, 2], [2, 1, 2])).toEqual({ expected: 5, stored: 5, lost: 0, extra: 0 });
    expect(lossReport([2, 1, 2], [1, 2, 2])).toEqual({ expected: 5, stored: 5, lost: 1, extra: 1 });
  });
});
