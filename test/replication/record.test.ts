// MailRecord encoding: round trip, strict validation of caller input and of decoded bytes.
import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { decodeRecord, encodeRecord, ReplicationError, checkRecord } from "../../src/replication/index.ts";
import { record } from "./helpers.ts";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ReplicationError) return e.code;
    return `not a ReplicationError: ${String(e)}`;
  }
  return "no error";
}

describe("record encoding", () => {
  test("round trips every field, null and numeric expiry", () => {
    for (const r of [record(1), record(2)]) expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });

  test("rejects invalid caller records with invalid_argument", () => {
    expect(codeOf(() => checkRecord(record(1, 1, { dedupId: "has space" })))).toBe("invalid_argument");
    expect(codeOf(() => checkRecord(record(1, 1, { dedupId: "" })))).toBe("invalid_argument");
    expect(codeOf(() => checkRecord(record(1, 1, { partition: -1 })))).toBe("invalid_argument");
    expect(codeOf(() => checkRecord(record(1, 1, { receivedAtMs: 1.5 })))).toBe("invalid_argument");
    expect(codeOf(() => checkRecord(record(1, 1, { mailbox: "x".repeat(5000) })))).toBe("invalid_argument");
    expect(codeOf(() => checkRecord(null as never))).toBe("invalid_argument");
  });

  test("foreign or corrupt bytes are corrupt_record, never a TypeError", () => {
    expect(codeOf(() => decodeRecord(new Uint8Array([0xc1])))).toBe("corrupt_record");
    expect(codeOf(() => decodeRecord(encode({ id: "x" })))).toBe("corrupt_record");
    expect(codeOf(() => decodeRecord(encode([2, "a", "b", "c", 1, "d", new Uint8Array(1), 1, null])))).toBe("corrupt_record");
    expect(codeOf(() => decodeRecord(encode([1, "a", "b", "c", 1, "d", "not bytes", 1, null])))).toBe("corrupt_record");
    expect(codeOf(() => decodeRecord(new TextEncoder().encode("{}")))).toBe("corrupt_record");
  });
});

describe("confirmation markers", () => {
  test("round trip; a marker is not a mail record and a mail record is not a marker", async () => {
    const { decodeConfirmMarker, encodeConfirmMarker, decodeRecord, encodeRecord } = await import("../../src/replication/record.ts");
    const bytes = encodeConfirmMarker({ partition: 7, dedupIds: ["a-1", "b-2"] });
    expect(decodeConfirmMarker(bytes)).toEqual({ partition: 7, dedupIds: ["a-1", "b-2"] });
    expect(() => decodeRecord(bytes)).toThrow();
    const { record } = await import("./helpers.ts");
    expect(decodeConfirmMarker(encodeRecord(record(1)))).toBeNull();
    expect(decodeConfirmMarker(new Uint8Array([0x93, 2, 0xc1]))).toBeNull(); // malformed: never a throw
    expect(() => encodeConfirmMarker({ partition: 7, dedupIds: [] })).toThrow();
  });
});
