// Pre-serialised JSON spliced verbatim into a packed message (stored envelopes in a pickup delivery), skipping parse + re-stringify.
import { isUtf8 } from "node:buffer";
import { DidcommError, DidcommErrorCode } from "../errors.ts";

/** JSON whitespace (RFC 8259 §2): space, tab, LF, CR. */
function isJsonSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

interface Session {
  /** Random per serialisation: user content cannot contain it, so every occurrence is one of ours. */
  marker: string;
  parts: RawJson[];
}
/** The serialisation in progress (JSON.stringify is synchronous, so one at a time suffices). */
let session: Session | null = null;

/**
 * UTF-8 bytes of one JSON object, held as bytes. `serializeJsonBytes` copies them into its output unchanged;
 * anywhere else (JSON.stringify, logging) it behaves like the parsed object, so a value carrying one is never
 * serialised wrong. Only for bytes Haven serialised itself (the mailbox stores `JSON.stringify` output): the
 * check in `ofObjectBytes` is structural (UTF-8, braces), not a full parse.
 */
export class RawJson {
  readonly bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Wraps `bytes` if they are UTF-8 and look like one JSON object (`{`...`}` after whitespace); else undefined. */
  static ofObjectBytes(bytes: Uint8Array): RawJson | undefined {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength < 2 || !isUtf8(bytes)) return undefined;
    let first = 0;
    let last = bytes.byteLength - 1;
    while (first < last && isJsonSpace(bytes[first])) first++;
    while (last > first && isJsonSpace(bytes[last])) last--;
    if (bytes[first] !== 0x7b || bytes[last] !== 0x7d) return undefined;
    return new RawJson(bytes);
  }

  /** In `serializeJsonBytes`: a placeholder string it replaces. Elsewhere: the parsed value. */
  toJSON(): unknown {
    if (session !== null) {
      session.parts.push(this);
      return `${session.marker}${session.parts.length - 1}`;
    }
    return JSON.parse(Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString("utf8"));
  }
}

/**
 * `JSON.stringify(value)` as UTF-8 bytes, with every RawJson's bytes copied in place (no parse, no re-stringify).
 * Without RawJson values this is one stringify and one encode.
 */
export function serializeJsonBytes(value: unknown): Uint8Array {
  if (session !== null) throw new DidcommError(DidcommErrorCode.InvalidMessage, "internal: nested raw JSON serialisation");
  const own: Session = { marker: `${crypto.randomUUID()}:`, parts: [] };
  let text: string | undefined;
  session = own;
  try {
    text = JSON.stringify(value);
  } finally {
    session = null;
  }
  if (typeof text !== "string") throw new DidcommError(DidcommErrorCode.InvalidMessage, "value is not serialisable as JSON");
  if (own.parts.length === 0) return Buffer.from(text, "utf8");
  return splice(text, own);
}

/** Replaces each `"<marker><i>"` (in order) by parts[i].bytes, writing everything into one buffer. */
function splice(text: string, s: Session): Uint8Array {
  const open = `"${s.marker}`;
  const segments: string[] = [];
  let from = 0;
  for (let i = 0; i < s.parts.length; i++) {
    const at = text.indexOf(open, from);
    const close = at < 0 ? -1 : text.indexOf('"', at + open.length);
    // Parts are pushed in serialisation order, so the i-th placeholder must name part i.
    if (close < 0 || text.slice(at + open.length, close) !== String(i)) {
      throw new DidcommError(DidcommErrorCode.InvalidMessage, "internal: raw JSON placeholder mismatch");
    }
    segments.push(text.slice(from, at));
    from = close + 1;
  }
  segments.push(text.slice(from));
  let total = 0;
  for (const seg of segments) total += Buffer.byteLength(seg, "utf8");
  for (const p of s.parts) total += p.bytes.byteLength;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < s.parts.length; i++) {
    offset += out.write(segments[i]!, offset, "utf8");
    out.set(s.parts[i]!.bytes, offset);
    offset += s.parts[i]!.bytes.byteLength;
  }
  offset += out.write(segments[s.parts.length]!, offset, "utf8");
  if (offset !== total) throw new DidcommError(DidcommErrorCode.InvalidMessage, "internal: raw JSON splice length mismatch");
  return out;
}
