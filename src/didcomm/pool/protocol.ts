// Messages between the unpack pool and its worker threads, and how typed errors cross the thread boundary.
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { UnpackOptions } from "../pack/types.ts";
import type { ForwardFacts } from "./forward-facts.ts";

/** Sent once, first: the keys the worker decrypts with and the envelope size limit. Never logged. */
export interface InitMsg {
  kind: "init";
  keys: KeyRef<PrivateJwk>[];
  maxEnvelopeBytes: number;
}

/** One envelope to unpack. `opts.message` bounds only: anything needing a clock stays on the main thread. */
export interface UnpackRequest {
  kind: "unpack";
  id: number;
  packed: string | Uint8Array;
  message?: UnpackOptions["message"];
}

export type ToWorker = InitMsg | UnpackRequest;

/** A DidcommError as plain data (code and message; the cause stays in the worker). */
export interface WireError {
  code: DidcommErrorCode;
  message: string;
  retryable: boolean;
}

/**
 * `ok`: the in-thread unpack would give the same result, as JSON text. The message and the metadata are built
 * from JSON.parse output, so the text round-trips them exactly, and one JSON.parse on the main thread costs about
 * a third less than structured-clone deserialisation of the same object graph (measured: ~6 vs ~9.5 us per forward).
 * With `forward` (a forward of the common shape, see attachedObjectOf), `json` lacks the attached envelope
 * (`attachments[0].data` is `{}`): it travels once, as `forward.json`, and the main thread re-attaches it to be
 * parsed only if read; routing stores `forward.json` as it is. That spares the main thread parsing and
 * re-serialising ~2 KB per forward, and hashing it.
 * `error`: it would throw the same DidcommError. `main`: the envelope needs the main thread (DID resolution, or
 * no key the worker holds).
 */
export type Reply =
  | { kind: "ok"; id: number; json: string; forward?: ForwardFacts }
  | { kind: "error"; id: number; error: WireError }
  | { kind: "main"; id: number; reason: MainReason };

export type MainReason = "resolver" | "no_recipient" | "internal";

const CODES: ReadonlySet<string> = new Set(Object.values(DidcommErrorCode));

export function toWireError(e: DidcommError): WireError {
  return { code: e.code, message: e.message, retryable: e.retryable };
}

/** Rebuilds the typed error on the main thread; a code we do not know is a protocol bug, not input. */
export function fromWireError(w: WireError): DidcommError {
  if (!CODES.has(w.code)) throw new Error(`unpack pool: unknown error code from worker`);
  return new DidcommError(w.code, w.message, { retryable: w.retryable });
}
