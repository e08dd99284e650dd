// msgpack values stored in the control-plane buckets, decoded strictly: another node (or an operator) wrote them.
import { decode, encode } from "@msgpack/msgpack";
import type { Mediation } from "../storage/types.ts";
import { MAX_KEY_CHARS } from "../storage/validate.ts";

/** UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair is 4 bytes for 2 units). */
const MAX_DID_BYTES = 3 * MAX_KEY_CHARS;
/** A value holds at most two DIDs plus a few small fields; anything larger is not ours. */
export const MAX_VALUE_BYTES = 2 * MAX_DID_BYTES + 256;
const VERSION = 1;

export interface KeyOwner {
  clientDid: string;
  recipientDid: string;
}

type Decoded = Record<string, unknown>;

function decodeMap(bytes: Uint8Array): Decoded | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_VALUE_BYTES) return undefined;
  let v: unknown;
  try {
    v = decode(bytes, { maxStrLength: MAX_DID_BYTES, maxArrayLength: 16, maxMapLength: 16, maxBinLength: 0, maxExtLength: 0 });
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const m = v as Decoded;
  return m["v"] === VERSION ? m : undefined;
}

const isDid = (s: unknown): s is string => typeof s === "string" && s.length > 0 && s.length <= MAX_KEY_CHARS;
const isUint = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

export function encodeMediation(m: Mediation): Uint8Array {
  return encode({ v: VERSION, c: m.clientDid, r: m.routingDid, g: m.grantedAtMs });
}

/** undefined for anything malformed (the caller counts it and ignores the entry). */
export function decodeMediation(bytes: Uint8Array): Mediation | undefined {
  const m = decodeMap(bytes);
  if (m === undefined || !isDid(m["c"]) || !isDid(m["r"]) || !isUint(m["g"])) return undefined;
  return { clientDid: m["c"], routingDid: m["r"], grantedAtMs: m["g"] };
}

export function encodeKeyOwner(o: KeyOwner): Uint8Array {
  return encode({ v: VERSION, c: o.clientDid, k: o.recipientDid });
}

export function decodeKeyOwner(bytes: Uint8Array): KeyOwner | undefined {
  const m = decodeMap(bytes);
  if (m === undefined || !isDid(m["c"]) || !isDid(m["k"])) return undefined;
  return { clientDid: m["c"], recipientDid: m["k"] };
}

/** Replay record: the logical expiry (caller's clock), so expiry follows the contract, not the bucket TTL. */
export function encodeReplay(expiresAtMs: number): Uint8Array {
  return encode({ v: VERSION, e: expiresAtMs });
}

export function decodeReplay(bytes: Uint8Array): number | undefined {
  const m = decodeMap(bytes);
  return m !== undefined && isUint(m["e"]) ? m["e"] : undefined;
}
