// The breaker's rules as pure functions over a record: admit, complete, add unreserved failures, merge after an outage.
// Each returns the record to write (null = nothing to write); the caller commits it with compare-and-swap and
// re-runs the function on conflict, so a decision only takes effect if nobody changed the record in between.
import { initialRecord, MAX_MARKS, type BreakerHolder, type BreakerMark, type BreakerPhase, type BreakerRecord } from "./breaker-record.ts";

export interface BreakerRules {
  /** Consecutive failures that open the breaker (1..MAX_FAILURE_THRESHOLD). */
  readonly failureThreshold: number;
  /** How long the breaker stays open before admitting a probe. */
  readonly openMs: number;
  /** Lifetime of a reservation or probe: after it a dead holder's slot is freed. Must exceed the call timeout. */
  readonly holderTtlMs: number;
  /** When admission is refused because slots or the probe are taken, come back after at most this long. */
  readonly recheckMs: number;
}

export type RefusalReason = "open" | "probing" | "saturated";

export type AdmitDecision =
  | { readonly admitted: true; readonly kind: "call" | "probe"; readonly seq: number }
  | { readonly admitted: false; readonly reason: RefusalReason; readonly retryAtMs: number };

export type TransitionReason = "threshold" | "open-elapsed" | "probe-success" | "probe-failure" | "reconcile" | "reset";

export interface PhaseChange {
  readonly from: BreakerPhase;
  readonly to: BreakerPhase;
  readonly reason: TransitionReason;
  /** Consecutive failures counted when it happened. */
  readonly failures: number;
}

export interface Step<T> {
  /** Record to write with CAS, or null when nothing changes. */
  readonly next: BreakerRecord | null;
  readonly result: T;
  /**
   * The transition this step makes. With `next` null it is a replay: an earlier write of the same operation
   * (same token) landed although its answer was lost, and this is its transition, not yet reported.
   */
  readonly change: PhaseChange | null;
}

/** The mark an operation left on the record, if its write landed. */
function markOf(r: BreakerRecord, token: string, op: BreakerMark["op"]): BreakerMark | undefined {
  return r.marks.find((m) => m.token === token && m.op === op);
}

function withMark(r: BreakerRecord, mark: BreakerMark): BreakerRecord {
  const marks = r.marks.length < MAX_MARKS ? [...r.marks, mark] : [...r.marks.slice(r.marks.length - MAX_MARKS + 1), mark];
  return { ...r, marks };
}

/** Drops holders whose expiry passed: their node is presumed dead, so their slot is free again. */
function prune(r: BreakerRecord, nowMs: number): BreakerRecord {
  const live = r.inFlight.filter((h) => h.expiresAtMs > nowMs);
  const probe = r.probe !== null && r.probe.expiresAtMs <= nowMs ? null : r.probe;
  if (live.length === r.inFlight.length && probe === r.probe) return r;
  return { ...r, inFlight: live, probe };
}

/** Tries to admit one call for `node` holding `token`. */
export function admit(cur: BreakerRecord | null, rules: BreakerRules, nowMs: number, node: string, token: string): Step<AdmitDecision> {
  const base = cur ?? initialRecord();
  const r = prune(base, nowMs);
  const dirty = cur === null || r !== base;
  const holder = (): BreakerHolder => ({ node, token, seq: r.nextSeq, expiresAtMs: nowMs + rules.holderTtlMs });

  // Idempotent: a retry whose earlier write landed (its answer lost to a timeout) finds its own holder.
  const mine = r.inFlight.find((h) => h.token === token);
  if (mine !== undefined) return { next: null, result: { admitted: true, kind: "call", seq: mine.seq }, change: null };
  if (r.probe !== null && r.probe.token === token) {
    const mark = markOf(r, token, "admit");
    return { next: null, result: { admitted: true, kind: "probe", seq: r.probe.seq }, change: mark?.change ?? null };
  }

  if (r.phase === "closed") {
    if (r.failSeqs.length + r.inFlight.length < rules.failureThreshold) {
      const h = holder();
      const next = { ...r, inFlight: [...r.inFlight, h], nextSeq: r.nextSeq + 1 };
      assertInvariant(next, rules);
      return { next, result: { admitted: true, kind: "call", seq: h.seq }, change: null };
    }
    const soonest = Math.min(...r.inFlight.map((h) => h.expiresAtMs), nowMs + rules.recheckMs);
    return { next: dirty ? r : null, result: { admitted: false, reason: "saturated", retryAtMs: soonest }, change: null };
  }

  if (r.phase === "open") {
    const reopenAtMs = (r.openedAtMs ?? nowMs) + rules.openMs;
    if (nowMs < reopenAtMs) return { next: dirty ? r : null, result: { admitted: false, reason: "open", retryAtMs: reopenAtMs }, change: null };
    const h = holder();
    const change: PhaseChange = { from: "open", to: "half-open", reason: "open-elapsed", failures: 0 };
    const next = withMark({ ...r, phase: "half-open", probe: h, inFlight: [], failSeqs: [], nextSeq: r.nextSeq + 1 }, { token, op: "admit", n: 0, change });
    return { next, result: { admitted: true, kind: "probe", seq: h.seq }, change };
  }

  // half-open: exactly one probe at a time; a dead prober's probe lapses at its expiry and is re-granted.
  if (r.probe === null) {
    const h = holder();
    return { next: { ...r, probe: h, nextSeq: r.nextSeq + 1 }, result: { admitted: true, kind: "probe", seq: h.seq }, change: null };
  }
  const retryAtMs = Math.min(r.probe.expiresAtMs, nowMs + rules.recheckMs);
  return { next: dirty ? r : null, result: { admitted: false, reason: "probing", retryAtMs }, change: null };
}

/**
 * Records the outcome of the admission holding `token`. A token the record no longer holds (expired and
 * pruned, the breaker moved on, or this very completion already landed) is ignored, `result` false; a
 * completion that landed and made a transition is replayed from its mark (result true, change to report).
 *
 * A failure is recorded under a fresh seq; a success clears only the failures recorded before its call was
 * admitted. Those certainly reached the destination before the successful request did; a failure recorded
 * later may have reached it after (requests race between admission and arrival), so it stays counted. The
 * count therefore never misses a failure the destination saw after its last success: with the breaker
 * closed and the destination failing, exactly `threshold` requests fail before it opens.
 */
export function complete(cur: BreakerRecord | null, rules: BreakerRules, nowMs: number, token: string, ok: boolean): Step<boolean> {
  if (cur === null) return { next: null, result: false, change: null };
  const landed = markOf(cur, token, "complete");
  if (landed !== undefined) return { next: null, result: true, change: landed.change };
  if (cur.phase === "half-open") {
    if (cur.probe === null || cur.probe.token !== token) return { next: null, result: false, change: null };
    if (ok) {
      const change: PhaseChange = { from: "half-open", to: "closed", reason: "probe-success", failures: 0 };
      const next = withMark({ ...cur, phase: "closed", probe: null, failSeqs: [], inFlight: [] }, { token, op: "complete", n: 0, change });
      return { next, result: true, change };
    }
    const change: PhaseChange = { from: "half-open", to: "open", reason: "probe-failure", failures: 1 };
    const next = withMark({ ...cur, phase: "open", probe: null, openedAtMs: nowMs }, { token, op: "complete", n: 0, change });
    return { next, result: true, change };
  }
  if (cur.phase === "open") return { next: null, result: false, change: null };

  const holder = cur.inFlight.find((h) => h.token === token);
  if (holder === undefined) return { next: null, result: false, change: null };
  const inFlight = cur.inFlight.filter((h) => h !== holder);
  const failSeqs = ok ? cur.failSeqs.filter((s) => s > holder.seq) : [...cur.failSeqs, cur.nextSeq];
  const nextSeq = ok ? cur.nextSeq : cur.nextSeq + 1;
  if (failSeqs.length >= rules.failureThreshold) {
    // failSeqs + inFlight <= threshold held before; with failSeqs at threshold no call can be in flight.
    if (inFlight.length !== 0) throw new Error("breaker invariant violated: calls in flight when opening");
    const change: PhaseChange = { from: "closed", to: "open", reason: "threshold", failures: failSeqs.length };
    const next = withMark({ ...cur, phase: "open", failSeqs: [], inFlight: [], openedAtMs: nowMs, nextSeq }, { token, op: "complete", n: 0, change });
    return { next, result: true, change };
  }
  return { next: { ...cur, inFlight, failSeqs, nextSeq }, result: true, change: null };
}

/**
 * Gives back the admission holding `token` without an outcome (the call was never made, or was aborted with its
 * fate unknown): the reservation or probe is freed, failures and phase stay as they are. Idempotent by itself
 * (a token no longer held changes nothing).
 */
export function abandon(cur: BreakerRecord | null, token: string): Step<boolean> {
  if (cur === null) return { next: null, result: false, change: null };
  if (cur.probe !== null && cur.probe.token === token) return { next: { ...cur, probe: null }, result: true, change: null };
  if (!cur.inFlight.some((h) => h.token === token)) return { next: null, result: false, change: null };
  return { next: { ...cur, inFlight: cur.inFlight.filter((h) => h.token !== token) }, result: true, change: null };
}

/**
 * Operator override (`admin breaker reset`): closes the breaker whatever its phase, forgetting counted failures
 * and any probe. Calls in flight keep their reservations (their outcomes still count). The change is reported
 * with reason "reset" unless it was closed already; marked with `token` so a retried write is recognised.
 */
export function forceClose(cur: BreakerRecord | null, token: string): Step<{ from: BreakerPhase; failures: number }> {
  const r = cur ?? initialRecord();
  const landed = markOf(r, token, "reset");
  if (landed !== undefined) return { next: null, result: { from: landed.change?.from ?? "closed", failures: landed.change?.failures ?? 0 }, change: landed.change };
  const change: PhaseChange | null = r.phase === "closed" && r.failSeqs.length === 0 ? null : { from: r.phase, to: "closed", reason: "reset", failures: r.failSeqs.length };
  if (change === null && cur !== null) return { next: null, result: { from: "closed", failures: 0 }, change: null };
  const next = withMark({ ...r, phase: "closed", failSeqs: [], probe: null }, { token, op: "reset", n: 0, change });
  return { next, result: { from: r.phase, failures: r.failSeqs.length }, change };
}

/**
 * Counts `n` failures that held no reservation here (outcomes recorded in fallback mode, or a shared
 * permit completed while the shared store was down). Closed only; may open the breaker. In-flight
 * reservations then become stale (their outcomes are ignored) -- the pessimistic choice.
 */
export function addFailures(cur: BreakerRecord | null, rules: BreakerRules, nowMs: number, n: number, token: string, op: "add" | "merge" = "add"): Step<number> {
  const r = prune(cur ?? initialRecord(), nowMs);
  // Not idempotent by itself: the mark says whether an earlier write of this operation landed.
  const landed = markOf(r, token, op);
  if (landed !== undefined) return { next: null, result: landed.n, change: landed.change };
  if (r.phase !== "closed" || n <= 0) return { next: null, result: 0, change: null };
  const added = Math.min(n, rules.failureThreshold - r.failSeqs.length);
  const seqs = Array.from({ length: added }, (_, i) => r.nextSeq + i);
  const failSeqs = [...r.failSeqs, ...seqs];
  const nextSeq = r.nextSeq + added;
  if (failSeqs.length >= rules.failureThreshold) {
    const change: PhaseChange = { from: "closed", to: "open", reason: "reconcile", failures: failSeqs.length };
    const next = withMark({ ...r, phase: "open", failSeqs: [], inFlight: [], openedAtMs: nowMs, nextSeq }, { token, op, n: added, change });
    return { next, result: added, change };
  }
  return { next: withMark({ ...r, failSeqs, nextSeq }, { token, op, n: added, change: null }), result: added, change: null };
}

/**
 * Reconciliation after a store outage: the more pessimistic of the shared and the local view wins.
 * - local open or half-open (a local probe is unconfirmed, so it counts as open): the shared record
 *   becomes open unless it is already open since the same time or later; openedAtMs = the later one.
 * - local closed: its consecutive failures are added to the shared count (addFailures), which may open it.
 * - shared open/half-open and local closed: the shared record is kept.
 */
export function mergeLocal(shared: BreakerRecord | null, local: BreakerRecord, rules: BreakerRules, nowMs: number, token: string): Step<number> {
  if (local.phase === "closed") return addFailures(shared, rules, nowMs, local.failSeqs.length, token, "merge");
  const s = shared ?? initialRecord();
  const landed = markOf(s, token, "merge");
  if (landed !== undefined) return { next: null, result: 0, change: landed.change };
  const localOpenedAtMs = local.openedAtMs ?? nowMs;
  if (s.phase === "open" && (s.openedAtMs ?? 0) >= localOpenedAtMs) return { next: shared === null ? s : null, result: 0, change: null };
  const change: PhaseChange | null = s.phase === "open" ? null : { from: s.phase, to: "open", reason: "reconcile", failures: s.failSeqs.length };
  const next = withMark({ ...s, phase: "open", failSeqs: [], inFlight: [], probe: null, openedAtMs: localOpenedAtMs }, { token, op: "merge", n: 0, change });
  return { next, result: 0, change };
}

/** Consecutive failures currently counted. */
export function failuresOf(r: BreakerRecord): number {
  return r.failSeqs.length;
}

function assertInvariant(r: BreakerRecord, rules: BreakerRules): void {
  if (r.phase === "closed" && r.failSeqs.length + r.inFlight.length > rules.failureThreshold) {
    throw new Error("breaker invariant violated: failures + in-flight exceed the threshold");
  }
}
