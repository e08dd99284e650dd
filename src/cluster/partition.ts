// Mailbox -> partition mapping: first 4 bytes of SHA-256(mailbox) as a big-endian uint32, mod the partition count.
import { createHash } from "node:crypto";

/** Default number of partitions; fixed for a cluster's whole life (changing it remaps every mailbox). */
export const DEFAULT_PARTITIONS = 64;
/** Upper bound on the partition count: each partition costs a lease, a consumer and timers per node. */
export const MAX_PARTITIONS = 4096;
/** Mailbox keys are client DIDs; longer input is a bug or an attack, not a mailbox. */
export const MAX_MAILBOX_KEY_BYTES = 8192;

/** Throws a RangeError unless `n` is an integer in 1..MAX_PARTITIONS. */
export function checkPartitionCount(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw new RangeError(`partition count must be an integer in 1..${MAX_PARTITIONS}, got ${n}`);
  }
  return n;
}

/** Throws a RangeError unless `p` is a valid partition index for `partitions`. */
export function checkPartition(p: number, partitions: number): number {
  if (!Number.isInteger(p) || p < 0 || p >= partitions) {
    throw new RangeError(`partition must be an integer in 0..${partitions - 1}, got ${p}`);
  }
  return p;
}

/**
 * The partition holding `mailbox` (a client DID). Every node must compute the same value forever,
 * so this is pinned by test vectors: do not change the hash, the byte order or the reduction.
 */
export function partitionOf(mailbox: string, partitions: number = DEFAULT_PARTITIONS): number {
  checkPartitionCount(partitions);
  if (typeof mailbox !== "string" || mailbox.length === 0) throw new RangeError("mailbox key must be a non-empty string");
  if (Buffer.byteLength(mailbox, "utf8") > MAX_MAILBOX_KEY_BYTES) {
    throw new RangeError(`mailbox key exceeds ${MAX_MAILBOX_KEY_BYTES} bytes`);
  }
  const digest = createHash("sha256").update(mailbox, "utf8").digest();
  return digest.readUInt32BE(0) % partitions;
}

/** All partition indices 0..partitions-1. */
export function allPartitions(partitions: number): number[] {
  checkPartitionCount(partitions);
  return Array.from({ length: partitions }, (_, i) => i);
}
