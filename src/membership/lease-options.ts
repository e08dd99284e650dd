// LeaseManager options with defaults and the bounds the fencing argument needs.
import type { Clock } from "../runtime/clock.ts";
import type { LeaseStore } from "./lease-store.ts";

export type LossReason = "released" | "expired" | "conflict" | "gain-failed" | "stopped";

export type OwnershipEvent =
  | { type: "gained"; partition: number; epoch: number }
  | { type: "lost"; partition: number; epoch: number; reason: LossReason }
  /** onLost finished after the earliest moment another node could have acquired (should never happen). */
  | { type: "fence-overrun"; partition: number; epoch: number; overrunMs: number };

export interface LeaseManagerOptions {
  nodeId: string;
  store: LeaseStore;
  clock: Clock;
  partitions: number;
  /** Lease length; must equal the lease bucket's TTL. Default 3000. */
  leaseTtlMs?: number;
  /** Stop serving this long before the lease can expire server side. Covers onLost duration and clock rate drift. Default 500. */
  safetyMarginMs?: number;
  /** Default leaseTtlMs / 4. */
  renewIntervalMs?: number;
  /** Retry period for partitions we should own but could not acquire yet (each retry is one read while the key is held). Default 100. */
  acquireRetryMs?: number;
  /** Per store call. Default min(renewIntervalMs, 1000). */
  opTimeoutMs?: number;
  /** Called before serving a partition at `epoch` (rebuild state here); awaited. Throwing gives the lease up. */
  onGained: (partition: number, epoch: number) => Promise<void> | void;
  /** Called when this node must stop serving the partition; awaited, must finish within safetyMarginMs. */
  onLost: (partition: number, epoch: number, reason: LossReason) => Promise<void> | void;
  onEvent?: (event: OwnershipEvent) => void;
  /** Called with unexpected errors (store failures other than conflicts/timeouts, callback errors). */
  onError?: (err: unknown, context: string) => void;
}

export interface ResolvedLeaseOptions extends Required<Omit<LeaseManagerOptions, "onEvent" | "onError">> {
  onEvent: (event: OwnershipEvent) => void;
  onError: (err: unknown, context: string) => void;
}

function bounded(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) throw new RangeError(`${name} must be within ${min}..${max}, got ${v}`);
  return v;
}

export function resolveLeaseOptions(o: LeaseManagerOptions): ResolvedLeaseOptions {
  const leaseTtlMs = bounded("leaseTtlMs", o.leaseTtlMs ?? 3000, 100, 600_000);
  // The margin must leave room to renew at least once before the serve deadline.
  const safetyMarginMs = bounded("safetyMarginMs", o.safetyMarginMs ?? 500, 1, leaseTtlMs / 2);
  const renewIntervalMs = bounded("renewIntervalMs", o.renewIntervalMs ?? leaseTtlMs / 4, 1, (leaseTtlMs - safetyMarginMs) / 2);
  return {
    nodeId: o.nodeId,
    store: o.store,
    clock: o.clock,
    partitions: o.partitions,
    leaseTtlMs,
    safetyMarginMs,
    renewIntervalMs,
    acquireRetryMs: bounded("acquireRetryMs", o.acquireRetryMs ?? 100, 1, 60_000),
    opTimeoutMs: bounded("opTimeoutMs", o.opTimeoutMs ?? Math.min(renewIntervalMs, 1000), 1, leaseTtlMs),
    onGained: o.onGained,
    onLost: o.onLost,
    onEvent: o.onEvent ?? (() => undefined),
    onError: o.onError ?? (() => undefined),
  };
}
