// Options of the unpack pool: defaults and bounds, checked once at creation.
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import type { DidcommContext } from "../pack/types.ts";
import { DEFAULT_MAX_ENVELOPE_BYTES } from "../pack/types.ts";

/** Something worth a log line or a metric; never carries keys or envelope contents. */
export type PoolEvent =
  | { kind: "worker_exit"; index: number; lostInFlight: number; restartInMs: number }
  | { kind: "worker_started"; index: number; generation: number };

export interface UnpackPoolOptions {
  /** Main-thread context: the fallback unpack uses it (resolver, secrets, clock, size limit). */
  ctx: DidcommContext;
  /** The private keys workers decrypt with: the same keys `ctx.secrets` holds. Sent once per worker start. */
  keys: readonly KeyRef<PrivateJwk>[];
  /** Worker threads (0 = no pool: every call runs in-thread). Default 1, at most 64. */
  workers?: number;
  /** Envelopes in flight across all workers; beyond it calls run in-thread (backpressure). Default 256. */
  maxQueue?: number;
  /** First delay before restarting a worker that died; doubles per consecutive death. Default 50. */
  restartMinMs?: number;
  /** Cap of the restart delay. Default 5000. */
  restartMaxMs?: number;
  onEvent?: (event: PoolEvent) => void;
}

export interface ResolvedPoolOptions {
  ctx: DidcommContext;
  keys: KeyRef<PrivateJwk>[];
  workers: number;
  maxQueue: number;
  restartMinMs: number;
  restartMaxMs: number;
  maxEnvelopeBytes: number;
  onEvent: (event: PoolEvent) => void;
}

function bounded(value: number | undefined, dflt: number, min: number, max: number, name: string): number {
  const v = value ?? dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

export function resolvePoolOptions(o: UnpackPoolOptions): ResolvedPoolOptions {
  if (o === null || typeof o !== "object" || o.ctx === undefined) throw new TypeError("createUnpackPool needs { ctx, keys }");
  if (!Array.isArray(o.keys)) throw new TypeError("createUnpackPool: keys must be an array");
  const restartMinMs = bounded(o.restartMinMs, 50, 0, 60_000, "restartMinMs");
  const restartMaxMs = bounded(o.restartMaxMs, 5000, restartMinMs, 600_000, "restartMaxMs");
  const maxEnvelopeBytes = o.ctx.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  if (!Number.isSafeInteger(maxEnvelopeBytes) || maxEnvelopeBytes <= 0) throw new RangeError("ctx.maxEnvelopeBytes must be a positive integer");
  return {
    ctx: o.ctx,
    // Plain copies: KeyRefs may carry redaction hooks that structured clone would not keep anyway.
    keys: o.keys.map((k) => ({ kid: k.kid, jwk: { ...k.jwk } })),
    workers: bounded(o.workers, 1, 0, 64, "workers"),
    maxQueue: bounded(o.maxQueue, 256, 1, 100_000, "maxQueue"),
    restartMinMs,
    restartMaxMs,
    maxEnvelopeBytes,
    onEvent: o.onEvent ?? (() => {}),
  };
}
