// Shared test helpers for the mailbox tests: deferred promises, a fixed Random, a crash error.
import type { Random } from "../../src/runtime/random.ts";

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A Random whose next() always returns `value`: makes jittered backoff delays exact. */
export function fixedRandom(value: number): Random {
  return {
    next: () => value,
    int: (max) => Math.floor(value * max),
    bytes: (n) => new Uint8Array(n),
  };
}

/** A non-domain error: crashes the actor that throws it. */
export class Boom extends Error {
  override readonly name = "Boom";
}
