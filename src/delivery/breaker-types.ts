// Public types of the distributed breaker: admissions, permits, transitions, snapshots.
import type { RefusalReason, TransitionReason } from "./breaker-logic.ts";
import type { BreakerPhase } from "./breaker-record.ts";

/** "shared": decisions are CAS writes on the cluster-wide store; "local": the node's in-memory fallback. */
export type BreakerMode = "shared" | "local";

/** Proof of admission; hand it back to `release` exactly once. */
export interface BreakerPermit {
  readonly destination: string;
  readonly token: string;
  /** "probe" when this call is the half-open probe. */
  readonly kind: "call" | "probe";
  /** Which store admitted it. */
  readonly store: BreakerMode;
}

export type Admission =
  | { readonly admitted: true; readonly permit: BreakerPermit }
  | {
      readonly admitted: false;
      /** open: waiting for openMs; probing: another node's probe is out; saturated: threshold slots in use; contention: CAS kept losing. */
      readonly reason: RefusalReason | "contention";
      /** Wall-clock ms at which asking again makes sense. Waiting is not an attempt. */
      readonly retryAtMs: number;
    };

export interface BreakerTransition {
  readonly destination: string;
  readonly from: BreakerPhase;
  readonly to: BreakerPhase;
  readonly reason: TransitionReason;
  /** Consecutive failures counted at the time. */
  readonly failures: number;
  /** Wall-clock ms. */
  readonly atMs: number;
  /** Node whose write made the transition. */
  readonly nodeId: string;
  readonly store: BreakerMode;
}

export interface BreakerSnapshot {
  readonly destination: string;
  readonly store: BreakerMode;
  readonly phase: BreakerPhase;
  readonly failures: number;
  readonly inFlight: number;
  readonly probeHeld: boolean;
  readonly openedAtMs: number | null;
}
