// SQLite MessageStore: enqueue through group commit (dedup + O(1) quota per request), indexed reads.
import type { Statement } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { EnqueueRequest, EnqueueResult, MailboxStats, MessageStore, Quota, StoredMessage } from "../types.ts";
import { checkEnqueue, checkKey, checkLimit, checkList, checkRemove, checkUint } from "../validate.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { read, write, type SqliteContext } from "./context.ts";

interface Row {
  id: string;
  mailbox: string;
  recipient_did: string;
  payload: Uint8Array;
  size_bytes: number;
  received_at_ms: number;
  expires_at_ms: number | null;
}

const COLUMNS = "id, mailbox, recipient_did, payload, size_bytes, received_at_ms, expires_at_ms";

function toMessage(r: Row): StoredMessage {
  return {
    id: r.id,
    mailbox: r.mailbox,
    recipientDid: r.recipient_did,
    payload: r.payload,
    sizeBytes: r.size_bytes,
    receivedAtMs: r.received_at_ms,
    expiresAtMs: r.expires_at_ms,
  };
}

/** A mailbox's live message count and bytes (mirrors its mailbox_usage row). */
interface Usage {
  count: number;
  bytes: number;
}

/** Usage entries kept in memory: enough for the active mailboxes, bounded in key characters too. */
const USAGE_CACHE_ENTRIES = 4096;
const USAGE_CACHE_KEY_CHARS = 1024 * 1024;

export class SqliteMessageStore implements MessageStore {
  /**
   * Write-through copy of mailbox_usage for the quota check. Exact because this driver is the only
   * writer of its database: enqueue updates it with the insert, remove drops the mailbox's entry,
   * expire and a rolled-back batch clear it (rows are then reloaded inside the next batch).
   */
  readonly #usageCache = new BoundedCache<Usage>(USAGE_CACHE_ENTRIES, USAGE_CACHE_KEY_CHARS);
  // Prepared once: the hot path never compiles SQL.
  private readonly selDedup: Statement<{ id: string }, [string, string]>;
  private readonly selUsage: Statement<{ count: number; bytes: number }, [string]>;
  private readonly insert: Statement<unknown, [string, string, string, Uint8Array, number, number, number | null, string]>;
  private readonly selList: Statement<Row, [string, number]>;
  private readonly selListFor: Statement<Row, [string, string, number]>;
  private readonly selOldest: Statement<{ t: number }, [string]>;
  private readonly selNewest: Statement<{ t: number }, [string]>;
  private readonly selStatsFor: Statement<{ c: number; b: number; lo: number | null; hi: number | null }, [string, string]>;
  private readonly delMany: Statement<unknown, [string, string]>;
  private readonly delExpired: Statement<unknown, [number, number]>;

  constructor(private readonly ctx: SqliteContext) {
    const db = ctx.db;
    ctx.committer.onRollback(() => this.#usageCache.clear());
    this.selDedup = db.prepare("SELECT id FROM messages WHERE mailbox = ? AND dedup_key = ?");
    this.selUsage = db.prepare("SELECT count, bytes FROM mailbox_usage WHERE mailbox = ?");
    // OR IGNORE fires on the id primary key or on UNIQUE (mailbox, dedup_key); validation rules out NULLs.
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO messages (${COLUMNS}, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selList = db.prepare(
      `SELECT ${COLUMNS} FROM messages WHERE mailbox = ? ORDER BY received_at_ms, rowid LIMIT ?`,
    );
    this.selListFor = db.prepare(
      `SELECT ${COLUMNS} FROM messages WHERE mailbox = ? AND recipient_did = ? ORDER BY received_at_ms, rowid LIMIT ?`,
    );
    // Two single-ended queries: SQLite's min/max optimisation applies to one aggregate per query only.
    this.selOldest = db.prepare("SELECT received_at_ms AS t FROM messages WHERE mailbox = ? ORDER BY received_at_ms LIMIT 1");
    this.selNewest = db.prepare(
      "SELECT received_at_ms AS t FROM messages WHERE mailbox = ? ORDER BY received_at_ms DESC LIMIT 1",
    );
    this.selStatsFor = db.prepare(
      `SELECT COUNT(*) AS c, COALESCE(SUM(size_bytes), 0) AS b, MIN(received_at_ms) AS lo, MAX(received_at_ms) AS hi
       FROM messages WHERE mailbox = ? AND recipient_did = ?`,
    );
    // One statement for a whole messages-received list (up to MAX_LIMIT ids, passed as a JSON array):
    // a thousand separate DELETEs cost ~1.5x as much. A repeated id matches its row once.
    this.delMany = db.prepare("DELETE FROM messages WHERE mailbox = ? AND id IN (SELECT value FROM json_each(?))");
    this.delExpired = db.prepare(
      `DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages
         WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? ORDER BY expires_at_ms, rowid LIMIT ?)`,
    );
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
        // Same answers as the memory reference (dedup, then quota, then id conflict), but the common case
        // (a new message with room to spare) is one INSERT: the quota comes from the write-through usage
        // cache, and duplicates are found by the UNIQUE (mailbox, dedup_key) index refusing the row.
        const size = req.payload.byteLength;
        const usage = this.#usage(req.mailbox);
        if (usage.count + 1 > quota.maxCount || usage.bytes + size > quota.maxBytes) {
          const dup = this.selDedup.get(req.mailbox, req.dedupKey);
          if (dup !== null) return { status: "duplicate", id: dup.id };
          return { status: "quota_exceeded", limit: usage.count + 1 > quota.maxCount ? "count" : "bytes" };
        }
        const { changes } = this.insert.run(
          req.id,
          req.mailbox,
          req.recipientDid,
          req.payload,
          size,
          req.receivedAtMs,
          req.expiresAtMs,
          req.dedupKey,
        );
        if (changes === 1) {
          usage.count += 1; // the trigger did the same to mailbox_usage
          usage.bytes += size;
          return { status: "stored", id: req.id };
        }
        // Ignored: the same dedup key is stored (a duplicate) or the id is taken by another message.
        const dup = this.selDedup.get(req.mailbox, req.dedupKey);
        if (dup !== null) return { status: "duplicate", id: dup.id };
        return new StorageError(StorageErrorCode.Conflict, "message id already in use");
      },
    );
  }

  /**
   * The mailbox's count and bytes, from the cache or mailbox_usage. Only called inside a write batch;
   * the returned object is the cache entry, updated in place by enqueue.
   */
  #usage(mailbox: string): Usage {
    let u = this.#usageCache.get(mailbox);
    if (u === undefined) {
      const row = this.selUsage.get(mailbox);
      u = { count: row?.count ?? 0, bytes: row?.bytes ?? 0 };
      this.#usageCache.set(mailbox, u);
    }
    return u;
  }

  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    return read(this.ctx.gate, () => {
      checkList(mailbox, opts);
      const rows =
        opts.recipientDid === undefined
          ? this.selList.all(mailbox, opts.limit)
          : this.selListFor.all(mailbox, opts.recipientDid, opts.limit);
      return rows.map(toMessage);
    });
  }

  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    return read(this.ctx.gate, () => {
      checkKey(mailbox, "mailbox");
      if (recipientDid !== undefined) {
        checkKey(recipientDid, "recipientDid");
        const s = this.selStatsFor.get(mailbox, recipientDid)!;
        return { count: s.c, totalBytes: s.b, oldestReceivedAtMs: s.lo, newestReceivedAtMs: s.hi };
      }
      const usage = this.selUsage.get(mailbox);
      if (usage === null) return { count: 0, totalBytes: 0, oldestReceivedAtMs: null, newestReceivedAtMs: null };
      return {
        count: usage.count,
        totalBytes: usage.bytes,
        oldestReceivedAtMs: this.selOldest.get(mailbox)?.t ?? null,
        newestReceivedAtMs: this.selNewest.get(mailbox)?.t ?? null,
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
        const removed = this.delMany.run(mailbox, JSON.stringify(snapshot)).changes;
        if (removed > 0) this.#usageCache.delete(mailbox); // the delete trigger changed mailbox_usage
        return removed;
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
        const { changes } = this.delExpired.run(nowMs, limit);
        if (changes > 0) this.#usageCache.clear(); // any mailbox may have lost messages
        return changes;
      },
    );
  }
}
