// Injectable randomness: a seeded deterministic generator for tests and simulations, node:crypto for production.
import { randomBytes, randomInt } from "node:crypto";

/** Source of randomness. Not for key generation: keys always come from node:crypto directly. */
export interface Random {
  /** Uniform float in [0, 1) with 53 bits of precision. */
  next(): number;
  /** Uniform integer in [0, maxExclusive); `maxExclusive` is an integer in 1..MAX_RANDOM_INT. */
  int(maxExclusive: number): number;
  /** `n` random bytes, 0 <= n <= MAX_RANDOM_BYTES. */
  bytes(n: number): Uint8Array;
}

/** Upper bound for `int` (node:crypto's randomInt requires a range below 2^48). */
export const MAX_RANDOM_INT = 2 ** 48 - 1;
/** Upper bound for `bytes`: larger requests are a bug, not a need. */
export const MAX_RANDOM_BYTES = 1 << 20;

function checkMax(maxExclusive: number): void {
  if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > MAX_RANDOM_INT) {
    throw new RangeError(`int(maxExclusive) needs an integer in 1..${MAX_RANDOM_INT}, got ${maxExclusive}`);
  }
}

function checkLength(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) {
    throw new RangeError(`bytes(n) needs an integer in 0..${MAX_RANDOM_BYTES}, got ${n}`);
  }
}

const TWO_POW_32 = 2 ** 32;
const MASK64 = (1n << 64n) - 1n;

/** One splitmix64 step (Vigna), returning the new state and the output: used only to expand a seed into xoshiro state, never as the stream itself. */
export function splitmix64(state: bigint): [next: bigint, output: bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

/**
 * Deterministic generator: xoshiro128** (Blackman & Vigna) in 32-bit integer math (fast, no
 * BigInt on the hot path), its 128-bit state filled from the seed by splitmix64 so that nearby
 * seeds give unrelated streams. The same seed always yields the same sequence on every platform.
 * `seed` is a non-negative integer below 2^64 (a number must be a safe integer).
 */
export function seededRandom(seed: number | bigint): Random {
  if (typeof seed === "number" && (!Number.isSafeInteger(seed) || seed < 0)) {
    throw new RangeError(`seed must be a safe non-negative integer, got ${seed}`);
  }
  const big = BigInt(seed);
  if (big < 0n || big > MASK64) throw new RangeError("seed must be within 0..2^64-1");

  let sm = big;
  const words: number[] = [];
  for (let i = 0; i < 2; i++) {
    const [nextState, out] = splitmix64(sm);
    sm = nextState;
    words.push(Number(out >> 32n) >>> 0, Number(out & 0xffffffffn) >>> 0);
  }
  const u32 = xoshiro128ss(words as [number, number, number, number]);

  const next = (): number => {
    // 27 high bits + 26 high bits = 53 bits, the full precision of a double in [0, 1).
    const hi = u32() >>> 5;
    const lo = u32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };

  return {
    next,
    int(maxExclusive: number): number {
      checkMax(maxExclusive);
      if (maxExclusive <= TWO_POW_32) {
        // Rejection sampling: discard the top partial bucket so every result is equally likely.
        const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
        for (;;) {
          const x = u32();
          if (x < limit) return x % maxExclusive;
        }
      }
      // Above 2^32: draw 53-bit integers, again rejecting the partial bucket.
      const range = 2 ** 53;
      const limit = range - (range % maxExclusive);
      for (;;) {
        const x = next() * range;
        if (x < limit) return x % maxExclusive;
      }
    },
    bytes(n: number): Uint8Array {
      checkLength(n);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        let w = u32();
        for (let j = i; j < Math.min(i + 4, n); j++) {
          out[j] = w & 0xff;
          w >>>= 8;
        }
      }
      return out;
    },
  };
}

/**
 * Raw xoshiro128** stream over a 128-bit state of four uint32 words (exported for reference-vector
 * tests). Returns a function yielding successive uint32 outputs.
 */
export function xoshiro128ss(state: readonly [number, number, number, number]): () => number {
  let [a, b, c, d] = state.map((w) => w >>> 0) as [number, number, number, number];
  // The all-zero state is a fixed point of xoshiro; splitmix64 never yields it, but assert the invariant.
  if ((a | b | c | d) === 0) throw new RangeError("xoshiro128** state must not be all zero");
  return (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Cryptographically secure randomness from node:crypto. */
export const cryptoRandom: Random = Object.freeze({
  next(): number {
    const buf = randomBytes(7);
    // 53 bits: 5 bits from the first byte, 48 from the next six.
    const hi = (buf[0]! & 0x1f) * 2 ** 48;
    return (hi + buf.readUIntBE(1, 6)) / 2 ** 53;
  },
  int(maxExclusive: number): number {
    checkMax(maxExclusive);
    return randomInt(0, maxExclusive);
  },
  bytes(n: number): Uint8Array {
    checkLength(n);
    return new Uint8Array(randomBytes(n));
  },
});

/**
 * For randomised tests: uses `SEED` from the environment (decimal or 0x-hex, a safe non-negative
 * integer) to replay a run, or draws a fresh seed. Tests print the seed so a failure can be
 * replayed with `SEED=<seed> bun test ...`. An invalid SEED throws rather than silently ignoring it.
 */
export function seedFromEnv(env: Record<string, string | undefined> = process.env): { seed: number; random: Random } {
  const raw = env.SEED?.trim();
  let seed: number;
  if (raw === undefined || raw === "") {
    seed = cryptoRandom.int(MAX_RANDOM_INT);
  } else {
    seed = /^(0x[0-9a-f]+|[0-9]+)$/i.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`SEED must be a non-negative safe integer (decimal or 0x-hex), got ${JSON.stringify(raw)}`);
    }
  }
  return { seed, random: seededRandom(seed) };
}
