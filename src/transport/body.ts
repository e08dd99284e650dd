// Reads a request body into memory without ever holding more than maxBytes, within a deadline.
import type { Clock } from "../runtime/clock.ts";
import type { Deadline, DeadlineQueue } from "./deadlines.ts";

export type BodyResult =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; status: 400 | 408 | 413; reason: string };

export interface ReadBodyOptions {
  maxBytes: number;
  /** Whole-body deadline, so a client trickling bytes cannot hold a request open forever. */
  timeoutMs: number;
  clock: Clock;
  /** Shared deadline timer (its timeoutMs must equal timeoutMs): no timer per request. Default: one timer each. */
  deadlines?: DeadlineQueue;
}

/** Arms the body deadline: on the shared queue when given, else a timer of its own. */
function startDeadline(opts: ReadBodyOptions, onExpired: () => void): Deadline {
  const q = opts.deadlines;
  if (q !== undefined) {
    if (q.timeoutMs !== opts.timeoutMs) throw new Error("invariant: the deadline queue's timeoutMs differs from the body timeout");
    return q.add(onExpired);
  }
  const timer = opts.clock.setTimeout(onExpired, opts.timeoutMs);
  return { cancel: () => opts.clock.clearTimeout(timer) };
}

const timedOutResult = (timeoutMs: number): BodyResult => ({ ok: false, status: 408, reason: `body not received within ${timeoutMs} ms` });

const tooLarge = (maxBytes: number): BodyResult => ({ ok: false, status: 413, reason: `body larger than ${maxBytes} bytes` });

/** Declared length: null when absent; NaN when malformed. */
function declaredLength(request: Request): number | null {
  const raw = request.headers.get("content-length");
  if (raw === null) return null;
  return /^[0-9]{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
}

export async function readBoundedBody(request: Request, opts: ReadBodyOptions): Promise<BodyResult> {
  const { maxBytes } = opts;
  const declared = declaredLength(request);
  if (declared !== null && Number.isNaN(declared)) return { ok: false, status: 400, reason: "malformed content-length" };
  // Refuse on the header alone: nothing is read.
  if (declared !== null && declared > maxBytes) return tooLarge(maxBytes);
  const stream = request.body;
  if (stream === null || declared === 0) return { ok: false, status: 400, reason: "empty body" };
  if (declared !== null) return readDeclared(request, declared, opts);

  const reader = stream.getReader();
  let deadline: Deadline | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    deadline = startDeadline(opts, () => resolve("timeout"));
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timedOut]);
      if (next === "timeout") {
        reader.cancel().catch(() => {});
        return timedOutResult(opts.timeoutMs);
      }
      if (next.done) break;
      const chunk = next.value as Uint8Array;
      total += chunk.byteLength;
      if (total > maxBytes) {
        reader.cancel().catch(() => {});
        return tooLarge(maxBytes);
      }
      chunks.push(chunk);
    }
  } catch {
    // The client aborted or the stream broke (Bun errors it past its own hard limit).
    return { ok: false, status: 400, reason: "body could not be read" };
  } finally {
    deadline?.cancel();
  }
  if (total === 0) return { ok: false, status: 400, reason: "empty body" };
  if (chunks.length === 1) return { ok: true, bytes: chunks[0]! };
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return { ok: true, bytes };
}

/**
 * Fast path for a declared Content-Length (<= maxBytes, checked by the caller): HTTP framing means
 * Bun reads exactly that many bytes, so one bytes() call is bounded; only the deadline is ours.
 * One promise and no Promise.race: this runs once per forward.
 */
function readDeclared(request: Request, declared: number, opts: ReadBodyOptions): Promise<BodyResult> {
  return new Promise<BodyResult>((resolve) => {
    // Whichever comes first settles the promise; the later resolve is a no-op.
    const deadline = startDeadline(opts, () => resolve(timedOutResult(opts.timeoutMs)));
    const unreadable = (): void => {
      deadline.cancel();
      resolve({ ok: false, status: 400, reason: "body could not be read" });
    };
    let reading: Promise<Uint8Array>;
    try {
      reading = request.bytes();
    } catch {
      unreadable(); // e.g. the body was already used
      return;
    }
    reading.then(
      (bytes) => {
        deadline.cancel();
        // Invariant: the framing layer delivered what was declared (never more than the limit).
        if (bytes.byteLength > opts.maxBytes) resolve(tooLarge(opts.maxBytes));
        else if (bytes.byteLength !== declared) resolve({ ok: false, status: 400, reason: "body length does not match content-length" });
        else resolve({ ok: true, bytes });
      },
      unreadable,
    );
  });
}
