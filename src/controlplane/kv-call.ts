// One KV call with a deadline on the injected clock, and the classification of its errors.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Clock } from "../runtime/clock.ts";

/** The server answered "wrong last sequence": a CAS/create conflict, i.e. the call itself worked. */
export function isCasConflict(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class KvTimeoutError extends Error {
  override readonly name = "KvTimeoutError";
  constructor(timeoutMs: number) {
    super(`control-plane KV call timed out after ${timeoutMs} ms`);
  }
}

/**
 * Races `op` against `timeoutMs` on `clock`. The NATS client has its own (real-time) request timeout
 * set to the same value; this one also bounds calls that never reach the wire and makes ManualClock
 * tests able to force a timeout. A late result of a timed-out call is dropped (the caller already
 * reported failure; every write we issue is idempotent or CAS-guarded, so a late success is harmless).
 */
export function withTimeout<T>(clock: Clock, timeoutMs: number, op: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = clock.setTimeout(
      () => {
        if (done) return;
        done = true;
        reject(new KvTimeoutError(timeoutMs));
      },
      timeoutMs,
      { unref: true },
    );
    let p: Promise<T>;
    try {
      p = op();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (v) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        reject(e);
      },
    );
  });
}
