// The dispatcher: takes due events, asks the breaker, makes the call with a deadline, classifies it, and completes, retries or dead-letters.
import { TRACEPARENT_HEADER } from "../observability/trace-context.ts";
import { currentTraceparent, inRemoteSpan, tracingEnabled } from "../observability/tracing.ts";
import type { TimerHandle } from "../runtime/clock.ts";
import type { BreakerPermit } from "./breaker-types.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";
import { resolveDispatcherOptions, type DispatcherOptions, type ResolvedDispatcherOptions } from "./dispatcher-options.ts";
import type { DeliveryEvent } from "./event-queue.ts";
import type { DeliveryOutcome } from "./metrics.ts";
import { classifyStatus, networkFailure, outcomeLabel, timeoutFailure, type AttemptOutcome } from "./outcome.ts";
import type { PreparedRequest } from "./request.ts";
import { backoffMs, canRetry } from "./retry-policy.ts";

/**
 * At-least-once: an event leaves the queue only after a 2xx (complete), a permanent failure or its
 * last attempt (DLQ). A crash between the 2xx and complete() resends it with the same Idempotency-Key.
 * One dispatcher per queue (per owned partition set in a cluster): in-flight ids are tracked here.
 *
 * Cluster fencing: `owns(partition)` is checked right before every call, and `fence(partition)` (run inside the
 * lease's onLost, before another node can take the partition) waits for the partition's calls to finish and record
 * their outcome, aborting those that overrun. A call aborted after its request left is the one unavoidable
 * at-least-once case: the new owner sends it again with the same Idempotency-Key; this node counts no outcome for it.
 */
/** Bound on remembered owed completions (ids only). */
const MAX_OWED_COMPLETIONS = 10_000;

export class Dispatcher {
  readonly #o: ResolvedDispatcherOptions;
  /** Dispatches in progress, by event id. */
  readonly #flights = new Map<string, Flight>();
  /**
   * Events this node delivered (2xx) whose completion the queue did not record (its store failed or timed out): they
   * stay due, but must not be sent again on every pass -- only their completion is retried.
   */
  readonly #owedCompletions = new Set<string>();
  readonly #perDestination = new Map<string, number>();
  readonly #running = new Set<Promise<void>>();
  #timer: TimerHandle | undefined;
  #started = false;
  #stopped = false;
  #pumping = false;
  #pumpAgain = false;

  constructor(options: DispatcherOptions) {
    this.#o = resolveDispatcherOptions(options);
  }

  /** Calls in flight from this dispatcher. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Calls given up by fence() (aborted, or never started because the partition was lost while they waited). */
  readonly fenceStats = { fences: 0, abortedCalls: 0, skippedCalls: 0 };

  /**
   * Ownership of `partition` is being lost: no call of it starts any more (owns() must already answer false);
   * waits up to 70% of `budgetMs` for its dispatches to finish (their 2xx recorded as completed while the lease
   * still fences the next owner out), then aborts the rest and waits out the remaining budget for them to settle.
   * Never throws; resolves within about `budgetMs`.
   */
  async fence(partition: number, budgetMs: number): Promise<{ finished: number; aborted: number; unsettled: number }> {
    const clock = this.#o.clock;
    const mine = () => [...this.#flights.values()].filter((f) => f.partition === partition);
    const first = mine();
    if (first.length === 0) return { finished: 0, aborted: 0, unsettled: 0 };
    this.fenceStats.fences++;
    const deadlineMs = clock.monotonicMs() + budgetMs;
    await settledWithin(first.map((f) => f.done), Math.floor(budgetMs * 0.7), clock);
    let aborted = 0;
    for (const f of mine()) {
      f.fenced = true;
      if (f.calling) {
        aborted++;
        f.abort.abort();
      }
    }
    this.fenceStats.abortedCalls += aborted;
    const rest = mine();
    await settledWithin(rest.map((f) => f.done), Math.max(0, deadlineMs - clock.monotonicMs()), clock);
    const unsettled = mine().length;
    return { finished: first.length - rest.length, aborted, unsettled };
  }

  /**
   * One pass: starts every due event the limits allow and waits until those dispatches finished.
   * Returns how many were started. For tests and tools; production uses start().
   */
  async runOnce(): Promise<number> {
    const started = await this.#startDue();
    await Promise.all(started);
    return started.length;
  }

  /** Runs passes in the background: after each completion, on wake(), and at the next due time (at most pollIntervalMs apart). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.wake();
  }

  /** A new event was enqueued or ownership changed: run a pass soon. */
  wake(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    void this.#pump();
  }

  /** Stops starting calls and waits for those in flight (each bounded by callTimeoutMs). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#running]);
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        await this.#startDue();
      } while (this.#pumpAgain && !this.#stopped);
      await this.#scheduleNext();
    } catch (e) {
      this.#o.log?.warn({ err: errorName(e) }, "delivery pass failed; retrying after the poll interval");
      this.#arm(this.#o.pollIntervalMs);
    } finally {
      this.#pumping = false;
    }
  }

  async #scheduleNext(): Promise<void> {
    const next = await this.#o.queue.nextDueAtMs(this.#dueOptions());
    const delay = next === null ? this.#o.pollIntervalMs : Math.min(this.#o.pollIntervalMs, Math.max(0, next - this.#o.clock.nowMs()));
    this.#arm(delay);
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = this.#o.clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.wake();
      },
      delayMs,
      { unref: true },
    );
  }

  async #startDue(): Promise<Promise<void>[]> {
    if (this.#stopped) return [];
    const o = this.#o;
    const free = o.maxConcurrency - this.#flights.size;
    if (free <= 0) return [];
    // Ask for extra rows: events already in flight here are still pending in the queue and come back.
    const limit = Math.min(10_000, o.batchSize + this.#flights.size);
    const events = await o.queue.due(o.clock.nowMs(), limit, this.#dueOptions());
    const started: Promise<void>[] = [];
    for (const e of events) {
      if (this.#flights.size >= o.maxConcurrency) break;
      if (this.#flights.has(e.id)) continue;
      if ((this.#perDestination.get(e.destination) ?? 0) >= o.concurrencyPerDestination) continue;
      const p = this.#dispatch(e);
      this.#running.add(p);
      void p.finally(() => this.#running.delete(p));
      started.push(p);
    }
    return started;
  }

  /** Owned partitions, plus those with dispatches still running here (kept loaded until they finish or are fenced). */
  #dueOptions(): { partitions?: ReadonlySet<number>; retain?: ReadonlySet<number> } {
    const partitions = this.#o.ownedPartitions();
    if (partitions === undefined) return {};
    const retain = new Set<number>();
    for (const f of this.#flights.values()) if (f.partition >= 0 && !partitions.has(f.partition)) retain.add(f.partition);
    return retain.size === 0 ? { partitions } : { partitions, retain };
  }

  #dispatch(e: DeliveryEvent): Promise<void> {
    let resolveDone!: () => void;
    // Events from the local outbox belong to no partition owner: no fence applies to them (partition -1).
    const flight: Flight = { partition: e.local === true ? -1 : e.partition, abort: new AbortController(), fenced: false, calling: false, done: new Promise<void>((r) => (resolveDone = r)) };
    this.#flights.set(e.id, flight);
    return this.#runFlight(e, flight).finally(resolveDone);
  }

  async #runFlight(e: DeliveryEvent, flight: Flight): Promise<void> {
    this.#perDestination.set(e.destination, (this.#perDestination.get(e.destination) ?? 0) + 1);
    try {
      await this.#deliver(e, flight);
    } catch (err) {
      if (err instanceof DeliveryError && (err.code === DeliveryErrorCode.Fenced || (err.code === DeliveryErrorCode.NotFound && flight.fenced))) {
        // Not ours any more (partition moved, or finished elsewhere): nothing to write, nothing to count.
        this.#o.log?.warn({ eventId: e.id, partition: e.partition, err: errorName(err) }, "delivery: event fenced; left to the partition's owner");
        return;
      }
      // Preparer, queue or breaker trouble: the event is still pending. Push it back a little so it
      // does not spin; if even that fails it is simply due again on the next pass.
      this.#o.log?.warn({ eventId: e.id, destination: e.destination, err: errorName(err) }, "delivery dispatch failed");
      await this.#o.queue.reschedule(e.id, this.#o.clock.nowMs() + this.#o.pollIntervalMs, e.attempts, "internal_error").catch(() => {});
    } finally {
      this.#flights.delete(e.id);
      const n = (this.#perDestination.get(e.destination) ?? 1) - 1;
      if (n <= 0) this.#perDestination.delete(e.destination);
      else this.#perDestination.set(e.destination, n);
      this.wake();
    }
  }

  async #deliver(e: DeliveryEvent, flight: Flight): Promise<void> {
    const o = this.#o;
    if (this.#owedCompletions.has(e.id)) {
      // Delivered (2xx) here already, but the queue could not record it: record it now, never call again. A failure
      // leaves it owed (the event is pushed back by #runFlight) instead of re-sending it on every pass.
      await o.queue.complete(e.id);
      this.#owedCompletions.delete(e.id);
      this.#outcome(e, "delivered");
      return;
    }
    const req = await o.prepare(e, o.clock.nowMs());
    if (req === null) {
      if (flight.fenced) throw fenced();
      await o.queue.complete(e.id);
      this.#outcome(e, "cancelled");
      return;
    }
    const admission = await o.breaker.acquire(e.destination);
    if (!admission.admitted) {
      if (flight.fenced) throw fenced();
      // Waiting is not an attempt: same attempt count, due again when the breaker may admit.
      await o.queue.reschedule(e.id, Math.max(admission.retryAtMs, o.clock.nowMs()), e.attempts, `breaker_${admission.reason}`);
      this.#outcome(e, "deferred");
      return;
    }
    // Synchronous from this check to the request leaving: a call never starts once the partition is lost.
    if (flight.fenced || (e.local !== true && !o.owns(e.partition))) {
      this.fenceStats.skippedCalls++;
      await this.#cancel(admission.permit);
      return;
    }
    const startedMs = o.clock.monotonicMs();
    flight.calling = true;
    // never throws: every failure is classified. Traced, the attempt is a `deliver` span in the trace of the request
    // that queued the event, and the receiver is told that span; untraced, exactly the plain call.
    const outcome = await (tracingEnabled() ? inRemoteSpan("deliver", e.traceparent, () => this.#call(withSpanHeader(req), flight.abort)) : this.#call(req, flight.abort));
    flight.calling = false;
    if (outcome.result !== "success" && flight.fenced && flight.abort.signal.aborted) {
      // Aborted by fence(): its fate is unknown (the request may have arrived). No outcome, no attempt counted,
      // no state written: the next owner sends it again with the same Idempotency-Key.
      await this.#cancel(admission.permit);
      this.#o.log?.warn({ eventId: e.id, partition: e.partition, destination: e.destination }, "delivery: in-flight call aborted by the partition fence; the next owner resends it");
      return;
    }
    const attempts = e.attempts + 1;
    o.metrics.attempt({ destination: e.destination, kind: e.kind, result: outcome.result, status: outcome.status, latencyMs: o.clock.monotonicMs() - startedMs });
    if (outcome.verdict === "success") {
      // Record the 2xx before anything else (the breaker's record is contended cluster-wide; the event's state is
      // not): the shorter this window, the less a lost partition can make the next owner send it again.
      try {
        await o.queue.complete(e.id);
        this.#outcome(e, "delivered");
      } catch (err) {
        this.#owe(e.id);
        throw err;
      } finally {
        await o.breaker.release(admission.permit, true);
      }
      return;
    }
    // Always hand the permit back, or its slot stays taken until holderTtlMs.
    await o.breaker.release(admission.permit, outcome.healthy);
    const label = outcomeLabel(outcome);
    if (outcome.verdict === "permanent") return this.#deadLetter(e, `permanent_${label}`, attempts);
    if (!canRetry(o.retry, attempts)) return this.#deadLetter(e, `attempts_exhausted_${label}`, attempts);
    const waitMs = Math.min(o.retry.capMs, Math.max(backoffMs(o.retry, attempts, o.random), outcome.retryAfterMs ?? 0));
    await o.queue.reschedule(e.id, o.clock.nowMs() + waitMs, attempts, label);
    this.#outcome(e, "retry_scheduled");
  }

  /** Remembers a 2xx whose completion could not be written (bounded: the oldest is forgotten, so it may be re-sent). */
  #owe(eventId: string): void {
    this.#owedCompletions.delete(eventId);
    this.#owedCompletions.add(eventId);
    if (this.#owedCompletions.size > MAX_OWED_COMPLETIONS) this.#owedCompletions.delete(this.#owedCompletions.values().next().value!);
  }

  /** A permit without an outcome: the breaker learns nothing from a call that was not made (or whose fate is unknown). */
  async #cancel(permit: BreakerPermit): Promise<void> {
    const b = this.#o.breaker;
    await (b.cancel ? b.cancel(permit) : b.release(permit, true)).catch((err: unknown) => {
      this.#o.log?.warn({ destination: permit.destination, err: errorName(err) }, "delivery: breaker permit could not be handed back; it lapses at its expiry");
    });
  }

  async #call(req: PreparedRequest, ac: AbortController): Promise<AttemptOutcome> {
    const o = this.#o;
    const timer = o.clock.setTimeout(() => ac.abort(), o.callTimeoutMs, { unref: true });
    try {
      const res = await o.fetch(req.url, { method: "POST", headers: req.headers, body: req.body, signal: ac.signal, redirect: "manual" });
      const outcome = classifyStatus(res.status, res.headers.get("retry-after"));
      // The response body is never read (nothing in it matters, and it is untrusted): release the connection.
      await res.body?.cancel().catch(() => {});
      return outcome;
    } catch {
      return ac.signal.aborted ? timeoutFailure() : networkFailure();
    } finally {
      o.clock.clearTimeout(timer);
    }
  }

  async #deadLetter(e: DeliveryEvent, reason: string, attempts: number): Promise<void> {
    await this.#o.queue.deadLetter(e.id, reason, attempts);
    this.#outcome(e, "dead_lettered");
    if (this.#o.dlq !== null) this.#o.metrics.dlqSize(await this.#o.dlq.count());
  }

  #outcome(e: DeliveryEvent, outcome: DeliveryOutcome): void {
    this.#o.metrics.outcome({ destination: e.destination, kind: e.kind, outcome });
  }
}

/** `req` plus the current (deliver) span as its traceparent header, so the receiver can join the trace. */
function withSpanHeader(req: PreparedRequest): PreparedRequest {
  const tp = currentTraceparent();
  return tp === undefined ? req : { ...req, headers: { ...req.headers, [TRACEPARENT_HEADER]: tp } };
}

function fenced(): DeliveryError {
  return new DeliveryError(DeliveryErrorCode.Fenced, "partition lost while the event was being dispatched");
}

interface Flight {
  readonly partition: number;
  /** Aborted by the call timeout or by fence(). */
  readonly abort: AbortController;
  /** Set by fence(): the partition is being lost; the call must not start, or was aborted. */
  fenced: boolean;
  /** True while the HTTP call is out. */
  calling: boolean;
  /** Resolves when the dispatch settled (outcome recorded, or given up). */
  readonly done: Promise<void>;
}

/** Waits until every promise settled or `ms` passed, whichever first. */
async function settledWithin(ps: Promise<unknown>[], ms: number, clock: ResolvedDispatcherOptions["clock"]): Promise<void> {
  if (ps.length === 0) return;
  let timer: TimerHandle | undefined;
  const timeout = new Promise<void>((r) => (timer = clock.setTimeout(r, Math.max(0, ms), { unref: true })));
  await Promise.race([Promise.allSettled(ps), timeout]);
  if (timer !== undefined) clock.clearTimeout(timer);
}

function errorName(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : typeof e;
}
