// msgpack encoding and strict validation of gossip payloads (they arrive from the network: bound and check everything).
import { decode, encode } from "@msgpack/msgpack";
import type { AnnouncedState, Heartbeat, NodeLoad, SuspectNotice } from "./types.ts";
import { NODE_ID_RE } from "./types.ts";

/** Gossip payloads are tiny; anything larger is dropped before decoding. */
export const MAX_GOSSIP_BYTES = 4096;
const MAX_URL_CHARS = 2048;
const STATES: ReadonlySet<string> = new Set<AnnouncedState>(["alive", "draining", "leaving"]);
const DECODE_OPTS = { maxStrLength: MAX_URL_CHARS, maxArrayLength: 16, maxMapLength: 16, maxBinLength: 0, maxExtLength: 0 };

export function encodeHeartbeat(hb: Heartbeat): Uint8Array {
  return encode(hb);
}

export function encodeSuspect(n: SuspectNotice): Uint8Array {
  return encode(n);
}

/** Returns the heartbeat, or null for anything malformed (a bad peer must not crash the detector). */
export function decodeHeartbeat(bytes: Uint8Array): Heartbeat | null {
  const o = decodeObject(bytes);
  if (!o) return null;
  const { nodeId, incarnation, state, url, load, seenAtMs } = o;
  if (!isNodeId(nodeId) || !isCount(incarnation) || typeof state !== "string" || !STATES.has(state)) return null;
  if (typeof url !== "string" || url.length > MAX_URL_CHARS || !isFiniteNumber(seenAtMs)) return null;
  const l = decodeLoad(load);
  if (!l) return null;
  return { nodeId, incarnation, state: state as AnnouncedState, url, load: l, seenAtMs };
}

export function decodeSuspect(bytes: Uint8Array): SuspectNotice | null {
  const o = decodeObject(bytes);
  if (!o) return null;
  const { nodeId, incarnation, from } = o;
  if (!isNodeId(nodeId) || !isCount(incarnation) || !isNodeId(from)) return null;
  return { nodeId, incarnation, from };
}

function decodeLoad(v: unknown): NodeLoad | null {
  if (v === null || typeof v !== "object") return null;
  const { eventLoopLagMs, rssBytes, queueDepth, openSockets } = v as Record<string, unknown>;
  if (!isFiniteNumber(eventLoopLagMs) || !isFiniteNumber(rssBytes)) return null;
  if (!isFiniteNumber(queueDepth) || !isFiniteNumber(openSockets)) return null;
  return { eventLoopLagMs, rssBytes, queueDepth, openSockets };
}

function decodeObject(bytes: Uint8Array): Record<string, unknown> | null {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_GOSSIP_BYTES) return null;
  try {
    const v = decode(bytes, DECODE_OPTS);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function isNodeId(v: unknown): v is string {
  return typeof v === "string" && NODE_ID_RE.test(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}
