// Wire records of the JetStream event queue (msgpack): the immutable event, its schedule state, and a dead letter; decoding validates every field.
import { decode, encode } from "@msgpack/msgpack";
import { parseDeliveryUrl } from "./destination.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";
import type { DeadLetter, DeliveryEvent, DeliveryKind } from "./event-queue.ts";
import { traceparentField } from "./traceparent.ts";

/** Default stream subjects: one per partition, so the owner reads only its own partitions. */
export const EVENT_SUBJECT_PREFIX = "haven.events.";
export const DLQ_SUBJECT_PREFIX = "haven.dlq.";

export function eventSubject(partition: number, prefix = EVENT_SUBJECT_PREFIX): string {
  return `${prefix}${partition}`;
}

/** base64url of the id: subjects and KV keys only take [A-Za-z0-9_-] tokens. */
export function idToken(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

export function stateKey(partition: number, id: string): string {
  return `${partition}.${idToken(id)}`;
}

/** The event as published on haven.events.<partition>; never changes after publication. */
export interface EventRecord {
  readonly id: string;
  readonly kind: DeliveryKind;
  readonly mailbox: string;
  readonly partition: number;
  readonly url: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly signingRef: string | null;
  readonly notBeforeMs: number;
  readonly createdAtMs: number;
  /** Re-enqueued from the DLQ: a terminal state older than this message does not suppress it. */
  readonly replay: boolean;
  /** W3C traceparent it was queued with; absent in records written before it existed or outside a trace. */
  readonly traceparent?: string;
}

/** "p" pending, "c" completed, "d" dead-lettered. Written only by the partition owner, every write a CAS. */
export interface EventState {
  readonly st: "p" | "c" | "d";
  /** Stream seq of the event message this state belongs to. */
  readonly seq: number;
  readonly attempts: number;
  readonly nextAtMs: number;
  readonly lastError: string | null;
}

const KINDS: ReadonlySet<string> = new Set(["webhook", "push", "reply"]);
const MAX_ID_CHARS = 256;
const MAX_TEXT_CHARS = 8192;

function bad(what: string): DeliveryError {
  return new DeliveryError(DeliveryErrorCode.Invalid, `corrupt delivery record: ${what}`);
}

function str(v: unknown, what: string, max = MAX_TEXT_CHARS): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw bad(what);
  return v;
}

function optStr(v: unknown, what: string): string | null {
  return v === null || v === undefined ? null : str(v, what);
}

function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(what);
  return v;
}

function obj(bytes: Uint8Array, maxBytes: number): Record<string, unknown> {
  if (bytes.length > maxBytes) throw bad("too large");
  let v: unknown;
  try {
    v = decode(bytes);
  } catch (e) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, "corrupt delivery record: not msgpack", { cause: e });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad("not a map");
  return v as Record<string, unknown>;
}

export function encodeEvent(r: EventRecord): Uint8Array {
  const { traceparent, ...rest } = r;
  return encode({ v: 1, ...rest, ...traceparentField(traceparent) });
}

export function decodeEvent(bytes: Uint8Array, maxBytes: number): EventRecord {
  const o = obj(bytes, maxBytes);
  if (o.v !== 1) throw bad("version");
  const kind = str(o.kind, "kind", 16);
  if (!KINDS.has(kind)) throw bad("kind");
  if (!(o.body instanceof Uint8Array)) throw bad("body");
  return {
    id: str(o.id, "id", MAX_ID_CHARS),
    kind: kind as DeliveryKind,
    mailbox: str(o.mailbox, "mailbox"),
    partition: int(o.partition, "partition"),
    url: str(o.url, "url"),
    body: o.body,
    contentType: str(o.contentType, "contentType", 200),
    signingRef: optStr(o.signingRef, "signingRef"),
    notBeforeMs: int(o.notBeforeMs, "notBeforeMs"),
    createdAtMs: int(o.createdAtMs, "createdAtMs"),
    replay: o.replay === true,
    // Optional and never fatal: a bad trace context only loses the trace link.
    ...traceparentField(o.traceparent),
  };
}

export function encodeState(s: EventState): Uint8Array {
  return encode(s);
}

export function decodeState(bytes: Uint8Array): EventState {
  const o = obj(bytes, 4096);
  if (o.st !== "p" && o.st !== "c" && o.st !== "d") throw bad("state");
  return { st: o.st, seq: int(o.seq, "seq"), attempts: int(o.attempts, "attempts"), nextAtMs: int(o.nextAtMs, "nextAtMs"), lastError: optStr(o.lastError, "lastError") };
}

/** The pending DeliveryEvent for a record, with schedule fields from its state (or fresh). */
export function toDeliveryEvent(r: EventRecord, attempts: number, nextAtMs: number, lastError: string | null): DeliveryEvent {
  return {
    id: r.id,
    kind: r.kind,
    mailbox: r.mailbox,
    partition: r.partition,
    url: r.url,
    destination: parseDeliveryUrl(r.url).destination,
    body: r.body,
    contentType: r.contentType,
    signingRef: r.signingRef,
    attempts,
    nextAtMs,
    createdAtMs: r.createdAtMs,
    lastError,
    ...traceparentField(r.traceparent),
  };
}

export function encodeDeadLetter(d: DeadLetter): Uint8Array {
  // traceparent only when valid (msgpack would write an undefined one as nil).
  const { traceparent, ...rest } = d;
  return encode({ v: 1, ...rest, ...traceparentField(traceparent) });
}

export function decodeDeadLetter(bytes: Uint8Array, maxBytes: number): DeadLetter {
  const o = obj(bytes, maxBytes);
  if (o.v !== 1) throw bad("version");
  const kind = str(o.kind, "kind", 16);
  if (!KINDS.has(kind)) throw bad("kind");
  if (!(o.body instanceof Uint8Array)) throw bad("body");
  return {
    id: str(o.id, "id", MAX_ID_CHARS),
    kind: kind as DeliveryKind,
    mailbox: str(o.mailbox, "mailbox"),
    partition: int(o.partition, "partition"),
    url: str(o.url, "url"),
    destination: str(o.destination, "destination"),
    body: o.body,
    contentType: str(o.contentType, "contentType", 200),
    signingRef: optStr(o.signingRef, "signingRef"),
    attempts: int(o.attempts, "attempts"),
    nextAtMs: int(o.nextAtMs, "nextAtMs"),
    createdAtMs: int(o.createdAtMs, "createdAtMs"),
    lastError: optStr(o.lastError, "lastError"),
    reason: typeof o.reason === "string" ? o.reason.slice(0, 200) : "",
    deadAtMs: int(o.deadAtMs, "deadAtMs"),
    ...traceparentField(o.traceparent),
  };
}
