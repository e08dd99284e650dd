// Public API of the unpack pool: anoncrypt unpacking on worker threads, falling back to in-thread unpack.
export { createUnpackPool, UnpackPool, type InThreadReason, type UnpackPoolStats } from "./pool.ts";
export type { PoolEvent, UnpackPoolOptions } from "./options.ts";
export { factsOfAttached, jweContentDigest, knownForwardFacts, type ForwardFacts } from "./forward-facts.ts";
