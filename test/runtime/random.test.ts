// Tests for src/runtime/random.ts: reference vectors, determinism, bounds, uniformity sanity and SEED handling.
import { describe, expect, test } from "bun:test";
import {
  cryptoRandom,
  MAX_RANDOM_BYTES,
  MAX_RANDOM_INT,
  seededRandom,
  seedFromEnv,
  splitmix64,
  xoshiro128ss,
} from "../../src/runtime/random.ts";

describe("reference vectors", () => {
  test("xoshiro128** from state [1,2,3,4] matches the published sequence", () => {
    const u32 = xoshiro128ss([1, 2, 3, 4]);
    const got = Array.from({ length: 10 }, () => u32());
    expect(got).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  test("splitmix64 from seed 1234567 matches the published sequence", () => {
    let state = 1234567n;
    const got: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const [next, out] = splitmix64(state);
      state = next;
      got.push(out);
    }
    expect(got).toEqual([
      6457827717110365317n,
      3203168211198807973n,
      9817491932198370423n,
      4593380528125082431n,
      16408922859458223821n,
    ]);
  });

  test("all-zero xoshiro state is rejected", () => {
    expect(() => xoshiro128ss([0, 0, 0, 0])).toThrow(RangeError);
  });
});

describe("seededRandom", () => {
  test("same seed, same stream; number and bigint seeds agree", () => {
    const a = seededRandom(42);
    const b = seededRandom(42n);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.next());
    expect(seededRandom(7).bytes(33)).toEqual(seededRandom(7n).bytes(33));
    expect(seededRandom(7).int(1000)).toBe(seededRandom(7).int(1000));
  });

  test("nearby seeds give different streams", () => {
    expect(seededRandom(1).bytes(16)).not.toEqual(seededRandom(2).bytes(16));
  });

  test("accepts the full 64-bit seed range, rejects outside it", () => {
    expect(() => seededRandom(0)).not.toThrow();
    expect(() => seededRandom((1n << 64n) - 1n)).not.toThrow();
    expect(() => seededRandom(1n << 64n)).toThrow(RangeError);
    expect(() => seededRandom(-1)).toThrow(RangeError);
    expect(() => seededRandom(-1n)).toThrow(RangeError);
    expect(() => seededRandom(1.5)).toThrow(RangeError);
    expect(() => seededRandom(2 ** 53)).toThrow(RangeError);
  });

  test("next() stays in [0, 1) and its mean is near 0.5", () => {
    const r = seededRandom(99);
    let sum = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    // Standard deviation of the mean is ~0.002; 0.02 is 10 sigma, so this only fails on a real bias.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.02);
  });

  test("int() covers every value of a small range, roughly uniformly", () => {
    const r = seededRandom(5);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) {
      const x = r.int(6);
      expect(Number.isInteger(x) && x >= 0 && x < 6).toBe(true);
      counts[x]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800); // expected 1000, sd ~29
    expect(r.int(1)).toBe(0);
  });

  test("int() above 2^32 stays in range", () => {
    const r = seededRandom(11);
    for (let i = 0; i < 1000; i++) {
      const x = r.int(MAX_RANDOM_INT);
      expect(Number.isInteger(x) && x >= 0 && x < MAX_RANDOM_INT).toBe(true);
    }
  });

  test("bytes() returns the requested length, including non-multiples of 4", () => {
    const r = seededRandom(3);
    for (const n of [0, 1, 3, 4, 5, 17]) expect(r.bytes(n).length).toBe(n);
    // A prefix of a longer draw from the same seed is the same bytes (word-wise little-endian fill).
    expect(seededRandom(3).bytes(8).subarray(0, 4)).toEqual(seededRandom(3).bytes(4));
  });
});

describe("argument bounds (both implementations)", () => {
  for (const [name, r] of [
    ["seeded", seededRandom(1)],
    ["crypto", cryptoRandom],
  ] as const) {
    test(`${name}: int and bytes reject out-of-range arguments`, () => {
      for (const bad of [0, -1, 1.5, Number.NaN, MAX_RANDOM_INT + 1]) expect(() => r.int(bad)).toThrow(RangeError);
      for (const bad of [-1, 1.5, MAX_RANDOM_BYTES + 1]) expect(() => r.bytes(bad)).toThrow(RangeError);
      expect(r.bytes(MAX_RANDOM_BYTES).length).toBe(MAX_RANDOM_BYTES);
    });
  }
});

describe("cryptoRandom", () => {
  test("values are in range and not constant", () => {
    const xs = Array.from({ length: 50 }, () => cryptoRandom.next());
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(45);
    const i = cryptoRandom.int(10);
    expect(Number.isInteger(i) && i >= 0 && i < 10).toBe(true);
    expect(cryptoRandom.bytes(32)).not.toEqual(cryptoRandom.bytes(32));
  });
});

describe("seedFromEnv", () => {
  test("uses SEED when set (decimal or hex), replaying the same stream", () => {
    const a = seedFromEnv({ SEED: "12345" });
    expect(a.seed).toBe(12345);
    expect(a.random.bytes(16)).toEqual(seededRandom(12345).bytes(16));
    expect(seedFromEnv({ SEED: " 0x10 " }).seed).toBe(16);
  });

  test("draws a fresh safe-integer seed when SEED is unset or empty", () => {
    for (const env of [{}, { SEED: "" }]) {
      const { seed, random } = seedFromEnv(env);
      expect(Number.isSafeInteger(seed) && seed >= 0).toBe(true);
      expect(random.bytes(8)).toEqual(seededRandom(seed).bytes(8));
    }
  });

  test("rejects an invalid SEED instead of ignoring it", () => {
    for (const bad of ["abc", "-1", "1.5", "99999999999999999999", "0x"]) {
      expect(() => seedFromEnv({ SEED: bad })).toThrow(RangeError);
    }
  });
});
