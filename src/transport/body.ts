// Reads a request body into memory without ever holding more than maxBytes, within a deadline.
import type { Clock } from "../runtime/clock.ts";

export type BodyResult =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; status: 400 | 408 | 413; reason: string };

export interface ReadBodyOptions {
  maxBytes: number;
  /** Whole-body deadline, so a client trickling bytes cannot hold a request open forever. */
  timeoutMs: number;
  clock: Clock;
}

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
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = opts.clock.setTimeout(() => resolve("timeout"), opts.timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timedOut]);
      if (next === "timeout") {
        reader.cancel().catch(() => {});
        return { ok: false, status: 408, reason: `body not received within ${opts.timeoutMs} ms` };
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
    if (timer !== undefined) opts.clock.clearTimeout(timer);
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
 * Bun reads exactly that many bytes, so one arrayBuffer() call is bounded; only the deadline is ours.
 */
async function readDeclared(request: Request, declared: number, opts: ReadBodyOptions): Promise<BodyResult> {
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = opts.clock.setTimeout(() => resolve("timeout"), opts.timeoutMs);
  });
  try {
    const result = await Promise.race([request.arrayBuffer(), timedOut]);
    if (result === "timeout") return { ok: false, status: 408, reason: `body not received within ${opts.timeoutMs} ms` };
    // Invariant: the framing layer delivered what was declared (never more than the limit).
    if (result.byteLength > opts.maxBytes) return tooLarge(opts.maxBytes);
    if (result.byteLength !== declared) return { ok: false, status: 400, reason: "body length does not match content-length" };
    return { ok: true, bytes: new Uint8Array(result) };
  } catch {
    return { ok: false, status: 400, reason: "body could not be read" };
  } finally {
    if (timer !== undefined) opts.clock.clearTimeout(timer);
  }
}
