// Small seeded PRNG (splitmix64) for reproducible randomised tests: print the seed, replay with env SEED=...
const MASK64 = (1n << 64n) - 1n;

/** Reads SEED from the environment (decimal or 0x-hex), else picks a fresh one. Always log what you got. */
export function seedFromEnv(name = "SEED"): bigint {
  const raw = process.env[name];
  if (raw !== undefined && raw.trim() !== "") return BigInt(raw.trim()) & MASK64;
  const fresh = new BigUint64Array(1);
  crypto.getRandomValues(fresh);
  return fresh[0]!;
}

/**
 * splitmix64 over BigInt keeps the code obviously correct; the fuzz loop draws only tens of numbers per case,
 * so the BigInt cost is negligible next to the crypto being exercised.
 */
export class Rng {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = seed & MASK64;
  }
  /** Next 32 uniformly random bits as a non-negative integer. */
  u32(): number {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    z = z ^ (z >> 31n);
    return Number(z >> 32n);
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1 && n <= 2 ** 32)) throw new RangeError(`Rng.int: bad bound ${n}`);
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  bool(pTrue = 0.5): boolean {
    return this.u32() / 2 ** 32 < pTrue;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Rng.pick: empty");
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}
