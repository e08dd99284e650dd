// SQLite MessageStore: enqueue through group commit (dedup + O(1) quota per request), indexed reads, integer-keyed DIDs.
import type { Statement } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { EnqueueRequest, EnqueueResult, MailboxStats, MessageStore, Quota, StoredMessage } from "../types.ts";
import { checkEnqueue, checkKey, checkLimit, checkList, checkRemove, checkUint } from "../validate.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { DedupIndex } from "./dedup-index.ts";
import { read, write, type SqliteContext } from "./context.ts";
import { DidIds } from "./did-ids.ts";

interface Row {
  id: string;
  recipient_id: number;
  payload: Uint8Array;
  size_bytes: number;
  received_at_ms: number;
  expires_at_ms: number | null;
}

const COLUMNS = "id, recipient_id, payload, size_bytes, received_at_ms, expires_at_ms";

/** A mailbox's live message count and bytes (mirrors its mailbox_usage row). */
interface Usage {
  count: number;
  bytes: number;
}

/** Usage entries kept in memory: enough for the active mailboxes, bounded in key characters too. */
const USAGE_CACHE_ENTRIES = 4096;
const USAGE_CACHE_KEY_CHARS = 512 * 1024;

/** A fresh object each time: callers own what they get back. */
function emptyStats(): MailboxStats {
  return { count: 0, totalBytes: 0, oldestReceivedAtMs: null, newestReceivedAtMs: null };
}

export class SqliteMessageStore implements MessageStore {
  /**
   * Write-through copy of mailbox_usage for the quota check. Exact because this driver is the only
   * writer of its database: enqueue and remove update it with their writes, expire and a rolled-back batch
   * clear it (rows are then reloaded inside the next batch).
   */
  readonly #usageCache = new BoundedCache<Usage>(USAGE_CACHE_ENTRIES, USAGE_CACHE_KEY_CHARS);
  /** Mailbox and recipient DIDs as the integers the message rows and indexes are keyed by (schema v2). */
  readonly #dids: DidIds;
  /**
   * (mailbox_id, dedup_key) -> rowid of every stored message, in memory (schema v3 dropped the UNIQUE index: see
   * dedup-index.ts). Loaded at open, kept by enqueue/remove/expire inside their batches, reloaded after a rollback.
   */
  readonly #dedup = new DedupIndex();
  /** Set when a reload after a rollback failed: the next write reloads first (and fails retryably if it cannot). */
  #dedupStale = false;
  /**
   * Usage this batch's inserts changed, by mailbox id: written to mailbox_usage once per mailbox at the end of the
   * batch (schema v3 dropped the per-row insert trigger). The same objects as in #usageCache; kept here even if the
   * cache evicts them, so a later op in the batch continues from them rather than from the not-yet-written row.
   */
  readonly #dirtyUsage = new Map<number, Usage>();
  private readonly putUsage: Statement<unknown, [number, number, number]>;
  // Prepared once: the hot path never compiles SQL.
  private readonly selByRowid: Statement<{ id: string; mailbox_id: number; dedup_key: string }, [number]>;
  private readonly selAllDedup: Statement<{ r: number; m: number; k: string }, []>;
  private readonly selUsage: Statement<{ count: number; bytes: number }, [number]>;
  private readonly insert: Statement<unknown, [string, number, number, Uint8Array, number, number, number | null, string]>;
  private readonly selList: Statement<Row, [number, number]>;
  private readonly selListFor: Statement<Row, [number, number, number]>;
  private readonly selOldest: Statement<{ t: number }, [number]>;
  private readonly selNewest: Statement<{ t: number }, [number]>;
  private readonly selStatsFor: Statement<{ c: number; b: number; lo: number | null; hi: number | null }, [number, number]>;
  private readonly delMany: Statement<{ r: number; dedup_key: string; size_bytes: number }, [number, string]>;
  private readonly delExpired: Statement<{ r: number; mailbox_id: number; dedup_key: string; size_bytes: number }, [number, number]>;
  private readonly subUsage: Statement<unknown, [number, number, number]>;
  private readonly delEmptyUsage: Statement<unknown, [number]>;

  constructor(private readonly ctx: SqliteContext) {
    const db = ctx.db;
    ctx.committer.onRollback(() => {
      this.#usageCache.clear();
      this.#dirtyUsage.clear();
    });
    ctx.committer.onBeforeCommit(() => this.#writeUsage());
    this.#dids = new DidIds(db, ctx.committer);
    this.selByRowid = db.prepare("SELECT id, mailbox_id, dedup_key FROM messages WHERE rowid = ?");
    this.selAllDedup = db.prepare("SELECT rowid AS r, mailbox_id AS m, dedup_key AS k FROM messages");
    this.#loadDedup();
    ctx.committer.onRollback(() => {
      // What the rolled-back batch added or removed is undone in the table: rebuild from it.
      try {
        this.#loadDedup();
      } catch {
        this.#dedupStale = true;
      }
    });
    this.selUsage = db.prepare("SELECT count, bytes FROM mailbox_usage WHERE mailbox_id = ?");
    // OR IGNORE fires on the id primary key only (duplicates are found in #dedup first); validation rules out NULLs.
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO messages (id, mailbox_id, recipient_id, payload, size_bytes, received_at_ms, expires_at_ms, dedup_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selList = db.prepare(
      `SELECT ${COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY received_at_ms, rowid LIMIT ?`,
    );
    this.selListFor = db.prepare(
      `SELECT ${COLUMNS} FROM messages WHERE mailbox_id = ? AND recipient_id = ? ORDER BY received_at_ms, rowid LIMIT ?`,
    );
    // Two single-ended queries: SQLite's min/max optimisation applies to one aggregate per query only.
    this.selOldest = db.prepare(
      "SELECT received_at_ms AS t FROM messages WHERE mailbox_id = ? ORDER BY received_at_ms LIMIT 1",
    );
    this.selNewest = db.prepare(
      "SELECT received_at_ms AS t FROM messages WHERE mailbox_id = ? ORDER BY received_at_ms DESC LIMIT 1",
    );
    this.selStatsFor = db.prepare(
      `SELECT COUNT(*) AS c, COALESCE(SUM(size_bytes), 0) AS b, MIN(received_at_ms) AS lo, MAX(received_at_ms) AS hi
       FROM messages WHERE mailbox_id = ? AND recipient_id = ?`,
    );
    // One statement for a whole messages-received list (up to MAX_LIMIT ids, passed as a JSON array):
    // a thousand separate DELETEs cost ~1.5x as much. A repeated id matches its row once. The unary + keeps the
    // planner off the mailbox indexes: left to itself it scans the whole mailbox and filters by id, O(mailbox size)
    // per call, instead of looking each id up in the primary key and checking its mailbox.
    // Deletes return what they removed: mailbox_usage is adjusted once per statement and mailbox (see #release).
    this.delMany = db.prepare(
      "DELETE FROM messages WHERE +mailbox_id = ? AND id IN (SELECT value FROM json_each(?)) RETURNING rowid AS r, dedup_key, size_bytes",
    );
    this.delExpired = db.prepare(
      `DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages
         WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? ORDER BY expires_at_ms, rowid LIMIT ?)
       RETURNING rowid AS r, mailbox_id, dedup_key, size_bytes`,
    );
    this.putUsage = db.prepare(
      `INSERT INTO mailbox_usage (mailbox_id, count, bytes) VALUES (?, ?, ?)
       ON CONFLICT (mailbox_id) DO UPDATE SET count = excluded.count, bytes = excluded.bytes`,
    );
    this.subUsage = db.prepare("UPDATE mailbox_usage SET count = count - ?, bytes = bytes - ? WHERE mailbox_id = ?");
    this.delEmptyUsage = db.prepare("DELETE FROM mailbox_usage WHERE mailbox_id = ? AND count = 0");
  }

  /** The payload bytes must not be mutated until the promise settles (they are bound at flush time). */
  enqueue(request: EnqueueRequest, limits: Quota): Promise<EnqueueResult> {
    // Snapshot the fields: the op runs later, and a caller mutating its objects must not bypass validation.
    const req: EnqueueRequest = { ...request };
    const quota: Quota = { maxCount: limits?.maxCount, maxBytes: limits?.maxBytes };
    return write(
      this.ctx,
      () => checkEnqueue(req, quota),
      (): EnqueueResult | StorageError => {
        // Same answers as the memory reference (dedup, then quota, then id conflict). The common case (a new message
        // with room to spare) is one in-memory dedup probe and one INSERT: the quota comes from the write-through usage
        // cache.
        if (this.#dedupStale) this.#loadDedup(); // throws (the batch fails, retryably) while the table is unreadable
        const size = req.payload.byteLength;
        // Interned even when the message is refused or conflicts below: a dids row is invisible through the
        // contract (so the write-op rule "decide before writing" still holds) and such DIDs come back.
        const mailboxId = this.#dids.intern(req.mailbox);
        const tag = this.#dedup.tagOf(mailboxId, req.dedupKey);
        const dupId = this.#duplicateOf(tag, mailboxId, req.dedupKey);
        if (dupId !== undefined) return { status: "duplicate", id: dupId };
        const usage = this.#usage(req.mailbox, mailboxId);
        if (usage.count + 1 > quota.maxCount || usage.bytes + size > quota.maxBytes) {
          return { status: "quota_exceeded", limit: usage.count + 1 > quota.maxCount ? "count" : "bytes" };
        }
        const { changes, lastInsertRowid } = this.insert.run(
          req.id,
          mailboxId,
          this.#dids.intern(req.recipientDid),
          req.payload,
          size,
          req.receivedAtMs,
          req.expiresAtMs,
          req.dedupKey,
        );
        // Ignored: the id is taken by another message (not a duplicate: that was ruled out above).
        if (changes !== 1) return new StorageError(StorageErrorCode.Conflict, "message id already in use");
        this.#dedup.add(tag, Number(lastInsertRowid));
        usage.count += 1;
        usage.bytes += size;
        this.#dirtyUsage.set(mailboxId, usage); // mailbox_usage is written at the end of the batch (#writeUsage)
        return { status: "stored", id: req.id };
      },
    );
  }

  /** The id of the stored message with this mailbox and dedup key, if any: index candidates confirmed by their row. */
  #duplicateOf(tag: number, mailboxId: number, dedupKey: string): string | undefined {
    let id: string | undefined;
    this.#dedup.find(tag, (rowid) => {
      const row = this.selByRowid.get(rowid);
      if (row === null || row.mailbox_id !== mailboxId || row.dedup_key !== dedupKey) return false;
      id = row.id;
      return true;
    });
    return id;
  }

  /** (Re)builds the dedup index from the table: at open, and after a rolled-back batch. */
  #loadDedup(): void {
    this.#dedup.clear();
    for (const row of this.selAllDedup.iterate()) this.#dedup.add(this.#dedup.tagOf(row.m, row.k), row.r);
    this.#dedupStale = false;
  }

  /**
   * The mailbox's count and bytes, from the cache or mailbox_usage. Only called inside a write batch;
   * the returned object is the cache entry, updated in place by enqueue.
   */
  #usage(mailbox: string, mailboxId: number): Usage {
    const cached = this.#usageCache.get(mailbox);
    if (cached !== undefined) return cached;
    // Evicted while this batch changed it: the batch's counters, not the row they have not been written to yet.
    let u = this.#dirtyUsage.get(mailboxId);
    if (u === undefined) {
      const row = this.selUsage.get(mailboxId);
      u = { count: row?.count ?? 0, bytes: row?.bytes ?? 0 };
    }
    this.#usageCache.set(mailbox, u);
    return u;
  }

  /** Writes the batch's changed usage to mailbox_usage (inside the batch: before deletes, and before it commits). */
  #writeUsage(): void {
    if (this.#dirtyUsage.size === 0) return;
    for (const [mailboxId, u] of this.#dirtyUsage) this.putUsage.run(mailboxId, u.count, u.bytes);
    this.#dirtyUsage.clear();
  }


  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    return read(this.ctx.gate, () => {
      checkList(mailbox, opts);
      const mailboxId = this.#dids.find(mailbox);
      if (mailboxId === undefined) return [];
      let rows: Row[];
      if (opts.recipientDid === undefined) rows = this.selList.all(mailboxId, opts.limit);
      else {
        const recipientId = this.#dids.find(opts.recipientDid);
        if (recipientId === undefined) return [];
        rows = this.selListFor.all(mailboxId, recipientId, opts.limit);
      }
      // A page usually names one or two recipients: resolve each id once, and share the string between rows.
      const recipients = new Map<number, string>();
      return rows.map((r): StoredMessage => {
        let recipientDid = recipients.get(r.recipient_id);
        if (recipientDid === undefined) {
          recipientDid = this.#dids.didOf(r.recipient_id);
          recipients.set(r.recipient_id, recipientDid);
        }
        return {
          id: r.id,
          mailbox,
          recipientDid,
          payload: r.payload,
          sizeBytes: r.size_bytes,
          receivedAtMs: r.received_at_ms,
          expiresAtMs: r.expires_at_ms,
        };
      });
    });
  }

  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    return read(this.ctx.gate, () => {
      checkKey(mailbox, "mailbox");
      if (recipientDid !== undefined) checkKey(recipientDid, "recipientDid");
      const mailboxId = this.#dids.find(mailbox);
      if (mailboxId === undefined) return emptyStats();
      if (recipientDid !== undefined) {
        const recipientId = this.#dids.find(recipientDid);
        if (recipientId === undefined) return emptyStats();
        const s = this.selStatsFor.get(mailboxId, recipientId)!;
        return { count: s.c, totalBytes: s.b, oldestReceivedAtMs: s.lo, newestReceivedAtMs: s.hi };
      }
      const usage = this.selUsage.get(mailboxId);
      if (usage === null) return emptyStats();
      return {
        count: usage.count,
        totalBytes: usage.bytes,
        oldestReceivedAtMs: this.selOldest.get(mailboxId)?.t ?? null,
        newestReceivedAtMs: this.selNewest.get(mailboxId)?.t ?? null,
      };
    });
  }

  remove(mailbox: string, ids: readonly string[]): Promise<number> {
    const snapshot = [...ids]; // the caller may mutate its array before the batch runs
    return write(
      this.ctx,
      () => checkRemove(mailbox, snapshot),
      () => {
        if (snapshot.length === 0) return 0;
        if (this.#dedupStale) this.#loadDedup();
        this.#writeUsage(); // #release below adjusts the rows; they must hold this batch's inserts first
        const mailboxId = this.#dids.find(mailbox);
        if (mailboxId === undefined) return 0;
        const rows = this.delMany.all(mailboxId, JSON.stringify(snapshot));
        if (rows.length === 0) return 0;
        let bytes = 0;
        for (const r of rows) {
          bytes += r.size_bytes;
          this.#forgetDedup(mailboxId, r.dedup_key, r.r);
        }
        this.#release(mailboxId, rows.length, bytes);
        const cached = this.#usageCache.get(mailbox);
        if (cached !== undefined) {
          cached.count -= rows.length;
          cached.bytes -= bytes;
        }
        return rows.length;
      },
    );
  }

  expire(nowMs: number, limit: number): Promise<number> {
    return write(
      this.ctx,
      () => {
        checkUint(nowMs, "nowMs");
        checkLimit(limit);
      },
      () => {
        if (this.#dedupStale) this.#loadDedup();
        this.#writeUsage(); // #release below adjusts the rows; they must hold this batch's inserts first
        const rows = this.delExpired.all(nowMs, limit);
        if (rows.length === 0) return 0;
        const released = new Map<number, Usage>();
        for (const r of rows) {
          this.#forgetDedup(r.mailbox_id, r.dedup_key, r.r);
          const u = released.get(r.mailbox_id);
          if (u === undefined) released.set(r.mailbox_id, { count: 1, bytes: r.size_bytes });
          else {
            u.count += 1;
            u.bytes += r.size_bytes;
          }
        }
        for (const [mailboxId, u] of released) this.#release(mailboxId, u.count, u.bytes);
        this.#usageCache.clear(); // any mailbox may have lost messages (the cache is keyed by DID, not id)
        return rows.length;
      },
    );
  }

  /** Drops a deleted row from the dedup index; a row the index did not hold is a broken invariant (rolls back). */
  #forgetDedup(mailboxId: number, dedupKey: string, rowid: number): void {
    if (!this.#dedup.remove(this.#dedup.tagOf(mailboxId, dedupKey), rowid)) {
      throw new Error(`dedup index had no entry for message rowid ${rowid}`);
    }
  }

  /**
   * Takes deleted messages off mailbox_usage, inside the deleting batch. A mailbox that had messages has a usage row
   * covering them; anything else is a broken invariant, and throwing rolls the whole batch back.
   */
  #release(mailboxId: number, count: number, bytes: number): void {
    if (this.subUsage.run(count, bytes, mailboxId).changes !== 1) {
      throw new Error(`mailbox_usage row missing for mailbox id ${mailboxId}`);
    }
    this.delEmptyUsage.run(mailboxId);
  }
}
