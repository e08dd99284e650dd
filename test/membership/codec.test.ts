// Gossip and lease payload codecs: round trips, and hostile input yields null instead of a throw.
import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { decodeHeartbeat, decodeSuspect, encodeHeartbeat, encodeSuspect, MAX_GOSSIP_BYTES } from "../../src/membership/codec.ts";
import { decodeLease, encodeLease } from "../../src/membership/lease-store.ts";
import type { Heartbeat } from "../../src/membership/types.ts";

const hb: Heartbeat = {
  nodeId: "node-1",
  incarnation: 1735689600000,
  state: "alive",
  url: "http://127.0.0.1:8080",
  load: { eventLoopLagMs: 1.5, rssBytes: 123456, queueDepth: 3, openSockets: 7 },
  seenAtMs: 1735689600123,
};

describe("gossip codec", () => {
  test("round trips", () => {
    expect(decodeHeartbeat(encodeHeartbeat(hb))).toEqual(hb);
    const n = { nodeId: "b", incarnation: 5, from: "a" };
    expect(decodeSuspect(encodeSuspect(n))).toEqual(n);
  });

  test("malformed, oversized or out-of-range payloads decode to null", () => {
    const bad: unknown[] = [
      { ...hb, nodeId: "has.dot" },
      { ...hb, nodeId: "" },
      { ...hb, incarnation: -1 },
      { ...hb, incarnation: 1.5 },
      { ...hb, state: "dead" },
      { ...hb, load: null },
      { ...hb, load: { ...hb.load, rssBytes: "big" } },
      { ...hb, seenAtMs: Number.NaN },
      [hb],
      "x",
      null,
    ];
    for (const b of bad) expect(decodeHeartbeat(encode(b))).toBeNull();
    expect(decodeHeartbeat(new Uint8Array([0xc1]))).toBeNull(); // never-used msgpack byte
    expect(decodeHeartbeat(new Uint8Array(0))).toBeNull();
    expect(decodeHeartbeat(new Uint8Array(MAX_GOSSIP_BYTES + 1))).toBeNull();
    expect(decodeSuspect(encode({ nodeId: "b", incarnation: 1 }))).toBeNull();
  });

  test("lease values: epoch 0 (the creating write) reads as the entry's revision", () => {
    expect(decodeLease(encodeLease({ nodeId: "a", epoch: 0 }), 42)).toEqual({ nodeId: "a", epoch: 42 });
    expect(decodeLease(encodeLease({ nodeId: "a", epoch: 42 }), 57)).toEqual({ nodeId: "a", epoch: 42 });
    expect(decodeLease(encode({ nodeId: "a", epoch: -3 }), 1)).toBeNull();
    expect(decodeLease(new Uint8Array([0xc1]), 1)).toBeNull();
  });
});
