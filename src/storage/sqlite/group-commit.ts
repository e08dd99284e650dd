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
}

export class GroupCommitter {
  private pending: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly counters = { commits: 0, failedCommits: 0, ops: 0, maxBatchOps: 0 };
  /** Run after a batch rolled back: in-memory write-through caches drop what the batch wrote. */
  private readonly rollbackHooks: (() => void)[] = [];
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

  submit<T>(op: WriteOp<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError(StorageErrorCode.Closed, "storage driver is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
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
      });
    } catch (cause) {
      this.counters.failedCommits += 1;
      for (const hook of this.rollbackHooks) hook();
      const error = new StorageError(StorageErrorCode.Unavailable, "storage write batch failed and was rolled back", {
        cause,
      });
      for (const p of batch) p.reject(error);
      return;
    }
    this.counters.commits += 1;
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

  stats(): GroupCommitStats {
    return { ...this.counters, pending: this.pending.length };
  }
}
