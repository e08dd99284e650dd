// The dispatcher: takes due events, asks the breaker, makes the call with a deadline, classifies it, and completes, retries or dead-letters.
import type { TimerHandle } from "../runtime/clock.ts";
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
 */
export class Dispatcher {
  readonly #o: ResolvedDispatcherOptions;
  readonly #inFlightIds = new Set<string>();
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
    return this.#inFlightIds.size;
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
    const partitions = this.#o.ownedPartitions();
    const next = await this.#o.queue.nextDueAtMs(partitions === undefined ? {} : { partitions });
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
    const free = o.maxConcurrency - this.#inFlightIds.size;
    if (free <= 0) return [];
    const partitions = o.ownedPartitions();
    // Ask for extra rows: events already in flight here are still pending in the queue and come back.
    const limit = Math.min(10_000, o.batchSize + this.#inFlightIds.size);
    const events = await o.queue.due(o.clock.nowMs(), limit, partitions === undefined ? {} : { partitions });
    const started: Promise<void>[] = [];
    for (const e of events) {
      if (this.#inFlightIds.size >= o.maxConcurrency) break;
      if (this.#inFlightIds.has(e.id)) continue;
      if ((this.#perDestination.get(e.destination) ?? 0) >= o.concurrencyPerDestination) continue;
      const p = this.#dispatch(e);
      this.#running.add(p);
      void p.finally(() => this.#running.delete(p));
      started.push(p);
    }
    return started;
  }

  async #dispatch(e: DeliveryEvent): Promise<void> {
    this.#inFlightIds.add(e.id);
    this.#perDestination.set(e.destination, (this.#perDestination.get(e.destination) ?? 0) + 1);
    try {
      await this.#deliver(e);
    } catch (err) {
      // Preparer, queue or breaker trouble: the event is still pending. Push it back a little so it
      // does not spin; if even that fails it is simply due again on the next pass.
      this.#o.log?.warn({ eventId: e.id, destination: e.destination, err: errorName(err) }, "delivery dispatch failed");
      await this.#o.queue.reschedule(e.id, this.#o.clock.nowMs() + this.#o.pollIntervalMs, e.attempts, "internal_error").catch(() => {});
    } finally {
      this.#inFlightIds.delete(e.id);
      const n = (this.#perDestination.get(e.destination) ?? 1) - 1;
      if (n <= 0) this.#perDestination.delete(e.destination);
      else this.#perDestination.set(e.destination, n);
      this.wake();
    }
  }

  async #deliver(e: DeliveryEvent): Promise<void> {
    const o = this.#o;
    const req = await o.prepare(e, o.clock.nowMs());
    if (req === null) {
      await o.queue.complete(e.id);
      this.#outcome(e, "cancelled");
      return;
    }
    const admission = await o.breaker.acquire(e.destination);
    if (!admission.admitted) {
      // Waiting is not an attempt: same attempt count, due again when the breaker may admit.
      await o.queue.reschedule(e.id, Math.max(admission.retryAtMs, o.clock.nowMs()), e.attempts, `breaker_${admission.reason}`);
      this.#outcome(e, "deferred");
      return;
    }
    const startedMs = o.clock.monotonicMs();
    const outcome = await this.#call(req); // never throws: every failure is classified
    // Always hand the permit back, or its slot stays taken until holderTtlMs.
    await o.breaker.release(admission.permit, outcome.healthy);
    const attempts = e.attempts + 1;
    o.metrics.attempt({ destination: e.destination, kind: e.kind, result: outcome.result, status: outcome.status, latencyMs: o.clock.monotonicMs() - startedMs });

    if (outcome.verdict === "success") {
      await o.queue.complete(e.id);
      this.#outcome(e, "delivered");
      return;
    }
    const label = outcomeLabel(outcome);
    if (outcome.verdict === "permanent") return this.#deadLetter(e, `permanent_${label}`, attempts);
    if (!canRetry(o.retry, attempts)) return this.#deadLetter(e, `attempts_exhausted_${label}`, attempts);
    const waitMs = Math.min(o.retry.capMs, Math.max(backoffMs(o.retry, attempts, o.random), outcome.retryAfterMs ?? 0));
    await o.queue.reschedule(e.id, o.clock.nowMs() + waitMs, attempts, label);
    this.#outcome(e, "retry_scheduled");
  }

  async #call(req: PreparedRequest): Promise<AttemptOutcome> {
    const o = this.#o;
    const ac = new AbortController();
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

function errorName(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : typeof e;
}
