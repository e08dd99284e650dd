// Group commit: writes queue up and run together in one durable transaction, so one fsync serves many requests.
import { StorageError, StorageErrorCode } from "../errors.ts";

/**
 * A write that runs inside the batch transaction. Returning a StorageError rejects only this request, so the op
 * must decide that before writing anything. Throwing fails (and rolls back) the whole batch.
 */
export type WriteOp<T> = () => T | StorageError;

export interface GroupCommitOptions {
  /** Flush as soon as this many writes are queued. */
  maxBatch: number;
  /** 0: flush after the current macrotask (setImmediate); >0: wait up to this long to gather more writes. */
  maxDelayMs: number;
}

export interface GroupCommitStats {
  /** Committed transactions. */
  commits: number;
  /** Transactions that threw and were rolled back (every request in them was rejected). */
  failedCommits: number;
  /** Requests in committed transactions. */
  ops: number;
  /** Largest committed batch. */
  maxBatchOps: number;
  /** Requests waiting for the next flush. */
  pending: number;
}

interface Pending {
  op: WriteOp<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** A health probe's write: it says nothing about whether the writes that need space go through. */
  probe: boolean;
}

/** Outcomes of the recent write batches (health probes alone excluded). */
export interface RecentWrites {
  failures: number;
  successes: number;
  /** The last failure's cause (SQLite's message, e.g. "database or disk is full"); never write contents. */
  lastFailureReason: string | null;
}

/** Batch outcomes remembered for recentWrites(). */
const OUTCOME_HISTORY = 64;

export class GroupCommitter {
  private pending: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly counters = { commits: 0, failedCommits: 0, ops: 0, maxBatchOps: 0 };
  /** Ring of recent batch outcomes: performance.now() and whether it committed. */
  private readonly outcomes: { atMs: number; ok: boolean }[] = [];
  private lastFailureReason: string | null = null;
  /** Run after a batch rolled back: in-memory write-through caches drop what the batch wrote. */
  private readonly rollbackHooks: (() => void)[] = [];
  /** Run inside the batch's transaction after its ops: writes that are cheaper once per batch than once per op. */
  private readonly beforeCommitHooks: (() => void)[] = [];
  private readonly onTimer = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** `runInTransaction` must run its callback inside one transaction and roll back if it throws. */
  constructor(
    private readonly runInTransaction: (body: () => void) => void,
    private readonly options: GroupCommitOptions,
  ) {}

  /** Registers a callback run (synchronously) whenever a batch is rolled back. */
  onRollback(hook: () => void): void {
    this.rollbackHooks.push(hook);
  }

  /** Registers a callback run inside every batch's transaction after its ops; a throw rolls the batch back. */
  onBeforeCommit(hook: () => void): void {
    this.beforeCommitHooks.push(hook);
  }

  /** `probe`: a health check's write (not counted in recentWrites). */
  submit<T>(op: WriteOp<T>, opts: { probe?: boolean } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError(StorageErrorCode.Closed, "storage driver is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (v: unknown) => void, reject, probe: opts.probe === true });
      if (this.pending.length >= this.options.maxBatch) this.flush();
      else if (!this.scheduled) {
        // A timer that fires after an early (full-batch) flush just flushes whatever came in since.
        this.scheduled = true;
        if (this.options.maxDelayMs === 0) setImmediate(this.onTimer);
        else setTimeout(this.onTimer, this.options.maxDelayMs);
      }
    });
  }

  /** Runs every queued write in one transaction, then settles their promises. Synchronous. */
  flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const results: unknown[] = new Array(batch.length);
    try {
      this.runInTransaction(() => {
        // Arrival order: a later request sees the effects of every earlier one in the batch.
        for (let i = 0; i < batch.length; i++) results[i] = batch[i]!.op();
        for (const hook of this.beforeCommitHooks) hook();
      });
    } catch (cause) {
      this.counters.failedCommits += 1;
      this.lastFailureReason = cause instanceof Error ? cause.message.slice(0, 200) : "unknown";
      this.record(batch, false);
      for (const hook of this.rollbackHooks) hook();
      const error = new StorageError(StorageErrorCode.Unavailable, "storage write batch failed and was rolled back", {
        cause,
      });
      for (const p of batch) p.reject(error);
      return;
    }
    this.counters.commits += 1;
    this.record(batch, true);
    this.counters.ops += batch.length;
    if (batch.length > this.counters.maxBatchOps) this.counters.maxBatchOps = batch.length;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i];
      if (r instanceof StorageError) batch[i]!.reject(r);
      else batch[i]!.resolve(r);
    }
  }

  /** Flushes what is queued and refuses later writes. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /**
   * Batch outcomes within the last `windowMs`. A probe that rewrites one row, and other small writes, can succeed
   * while the writes that need space fail (a full disk), so health weighs failures against real successes.
   */
  recentWrites(windowMs: number): RecentWrites {
    const sinceMs = performance.now() - windowMs;
    let failures = 0;
    let successes = 0;
    for (const o of this.outcomes) {
      if (o.atMs < sinceMs) continue;
      if (o.ok) successes++;
      else failures++;
    }
    return { failures, successes, lastFailureReason: this.lastFailureReason };
  }

  private record(batch: readonly Pending[], ok: boolean): void {
    if (batch.every((p) => p.probe)) return;
    this.outcomes.push({ atMs: performance.now(), ok });
    if (this.outcomes.length > OUTCOME_HISTORY) this.outcomes.shift();
  }

  stats(): GroupCommitStats {
    return { ...this.counters, pending: this.pending.length };
  }
}
