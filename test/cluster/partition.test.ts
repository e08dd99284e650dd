// partitionOf: pinned vectors (every node must agree forever), range and input bounds.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { partitionOf, DEFAULT_PARTITIONS, MAX_MAILBOX_KEY_BYTES } from "../../src/cluster/partition.ts";

describe("partitionOf", () => {
  test("is the first 4 bytes of SHA-256 as a big-endian uint32 mod the partition count", () => {
    // Independent computation from the hex digest, so a change in byte order or hash is caught.
    for (const did of ["did:peer:2.Ez6LSabc", "did:key:z6Mkexample", "did:web:example.com", "x"]) {
      const hex = createHash("sha256").update(did).digest("hex");
      const expected = parseInt(hex.slice(0, 8), 16) % 64;
      expect(partitionOf(did)).toBe(expected);
      expect(partitionOf(did, 1000)).toBe(parseInt(hex.slice(0, 8), 16) % 1000);
    }
  });

  test("pinned vectors", () => {
    // sha256("abc") = ba7816bf...: 0xba7816bf = 3128432319; mod 64 = 63, mod 10 = 9.
    expect(partitionOf("abc", 64)).toBe(3128432319 % 64);
    expect(partitionOf("abc", 10)).toBe(9);
    expect(DEFAULT_PARTITIONS).toBe(64);
  });

  test("spreads mailboxes over all partitions", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(partitionOf(`did:example:${i}`));
    expect(seen.size).toBe(64);
  });

  test("rejects empty, oversized keys and bad partition counts", () => {
    expect(() => partitionOf("")).toThrow(RangeError);
    expect(() => partitionOf("a".repeat(MAX_MAILBOX_KEY_BYTES + 1))).toThrow(RangeError);
    expect(() => partitionOf("a", 0)).toThrow(RangeError);
    expect(() => partitionOf("a", 1.5)).toThrow(RangeError);
  });
});
