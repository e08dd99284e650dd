// EventQueue + DlqStore over SQLite (bun:sqlite, WAL, synchronous=FULL, its own file): the single-node outbox and the fallback when NATS is away.
import { Database } from "bun:sqlite";
import type { Clock } from "../runtime/clock.ts";
import { systemClock } from "../runtime/clock.ts";
import { parseDeliveryUrl } from "./destination.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";
import type { DeadLetter, DeliveryEvent, DeliveryKind, DlqPage, DlqStore, DueOptions, EventQueue, NewDeliveryEvent } from "./event-queue.ts";
import { migrate, SCHEMA, type Row } from "./sqlite-schema.ts";
import { storedTraceparent, traceparentField } from "./traceparent.ts";

export interface SqliteQueueOptions {
  /** Database file (e.g. DATA_DIR/delivery.sqlite); ":memory:" for unit tests only. */
  path: string;
  clock?: Clock;
  /** Delivered ids are remembered this long so a duplicate enqueue is dropped. Default 86_400_000 (24 h). */
  deliveredRetentionMs?: number;
  /** Largest body accepted. Default 1 MiB, 1..16 MiB. */
  maxBodyBytes?: number;
  busyTimeoutMs?: number;
}

const KINDS: ReadonlySet<string> = new Set<DeliveryKind>(["webhook", "push", "reply"]);
const MAX_ID_CHARS = 256;
const MAX_REASON_CHARS = 200;
const MAX_DUE_LIMIT = 10_000;
const COLUMNS = "id, kind, mailbox, partition, url, destination, body, content_type, signing_ref, attempts, next_at_ms, created_at_ms, last_error, traceparent";

export class SqliteEventQueue implements EventQueue, DlqStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #retentionMs: number;
  readonly #maxBodyBytes: number;
  #lastPruneMs = 0;

  constructor(o: SqliteQueueOptions) {
    this.#clock = o.clock ?? systemClock;
    this.#retentionMs = checkInt("deliveredRetentionMs", o.deliveredRetentionMs ?? 86_400_000, 0, 30 * 86_400_000);
    this.#maxBodyBytes = checkInt("maxBodyBytes", o.maxBodyBytes ?? 2 ** 20, 1, 16 * 2 ** 20);
    this.#db = wrap(() => new Database(o.path, { create: true, strict: true }));
    wrap(() => {
      this.#db.run(`PRAGMA busy_timeout = ${checkInt("busyTimeoutMs", o.busyTimeoutMs ?? 5000, 0, 60_000)}`);
      const mode = this.#db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get()?.journal_mode;
      if (mode !== "wal" && o.path !== ":memory:") throw new Error(`could not enable WAL (journal_mode=${mode})`);
      this.#db.run("PRAGMA synchronous = FULL"); // an acked event survives power loss
      this.#db.run(SCHEMA);
      migrate(this.#db);
    });
  }

  async enqueue(e: NewDeliveryEvent): Promise<boolean> {
    const v = validate(e, this.#maxBodyBytes);
    const nowMs = this.#clock.nowMs();
    return wrap(() =>
      this.#db.transaction(() => {
        if (this.#db.query("SELECT 1 FROM delivered WHERE id = ?").get(e.id)) return false;
        if (this.#db.query("SELECT 1 FROM dlq WHERE id = ?").get(e.id)) return false;
        const r = this.#db
          .query(`INSERT OR IGNORE INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL, ?)`)
          .run(e.id, e.kind, e.mailbox, e.partition, e.url, v.destination, e.body, e.contentType, e.signingRef ?? null, e.notBeforeMs ?? nowMs, nowMs, storedTraceparent(e.traceparent));
        return r.changes === 1;
      })(),
    );
  }

  async due(nowMs: number, limit: number, opts: DueOptions = {}): Promise<DeliveryEvent[]> {
    checkInt("limit", limit, 1, MAX_DUE_LIMIT);
    const { clause, params } = partitionClause(opts);
    const rows = wrap(() =>
      this.#db.query<Row, (number | string)[]>(`SELECT ${COLUMNS} FROM events WHERE next_at_ms <= ? ${clause} ORDER BY next_at_ms, rowid LIMIT ?`).all(nowMs, ...params, limit),
    );
    return rows.map(toEvent);
  }

  async nextDueAtMs(opts: DueOptions = {}): Promise<number | null> {
    const { clause, params } = partitionClause(opts);
    const row = wrap(() => this.#db.query<{ at: number | null }, (number | string)[]>(`SELECT MIN(next_at_ms) AS at FROM events WHERE 1 ${clause}`).get(...params));
    return row?.at ?? null;
  }

  async reschedule(id: string, nextAtMs: number, attempts: number, lastError: string | null = null): Promise<void> {
    checkInt("attempts", attempts, 0, 1_000_000);
    if (!Number.isFinite(nextAtMs)) throw new DeliveryError(DeliveryErrorCode.Invalid, "nextAtMs must be finite");
    const r = wrap(() =>
      this.#db.query("UPDATE events SET next_at_ms = ?, attempts = ?, last_error = ? WHERE id = ?").run(Math.floor(nextAtMs), attempts, clip(lastError), id),
    );
    if (r.changes !== 1) throw new DeliveryError(DeliveryErrorCode.NotFound, "no such pending event");
  }

  async complete(id: string): Promise<void> {
    const nowMs = this.#clock.nowMs();
    wrap(() =>
      this.#db.transaction(() => {
        this.#db.query("DELETE FROM events WHERE id = ?").run(id);
        this.#db.query("INSERT OR REPLACE INTO delivered (id, at_ms) VALUES (?, ?)").run(id, nowMs);
        // Prune at most once a minute: the index makes it cheap, but not free.
        if (nowMs - this.#lastPruneMs > 60_000) {
          this.#lastPruneMs = nowMs;
          this.#db.query("DELETE FROM delivered WHERE at_ms < ?").run(nowMs - this.#retentionMs);
        }
      })(),
    );
  }

  async deadLetter(id: string, reason: string, attempts?: number): Promise<void> {
    if (attempts !== undefined) checkInt("attempts", attempts, 0, 1_000_000);
    const nowMs = this.#clock.nowMs();
    const moved = wrap(() =>
      this.#db.transaction(() => {
        if (attempts !== undefined) this.#db.query("UPDATE events SET attempts = ? WHERE id = ?").run(attempts, id);
        const r = this.#db.query(`INSERT OR REPLACE INTO dlq (${COLUMNS}, reason, dead_at_ms) SELECT ${COLUMNS}, ?, ? FROM events WHERE id = ?`).run(clip(reason) ?? "", nowMs, id);
        this.#db.query("DELETE FROM events WHERE id = ?").run(id);
        return r.changes;
      })(),
    );
    if (moved !== 1) throw new DeliveryError(DeliveryErrorCode.NotFound, "no such pending event");
  }

  async size(): Promise<number> {
    return wrap(() => this.#db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM events").get()?.n ?? 0);
  }

  async count(): Promise<number> {
    return wrap(() => this.#db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM dlq").get()?.n ?? 0);
  }

  async list(opts: { limit?: number; after?: string | null } = {}): Promise<DlqPage> {
    const limit = checkInt("limit", opts.limit ?? 100, 1, 1000);
    const after = opts.after == null ? 0 : Number(opts.after);
    if (!Number.isSafeInteger(after) || after < 0) throw new DeliveryError(DeliveryErrorCode.Invalid, "bad DLQ cursor");
    const rows = wrap(() =>
      this.#db.query<Row & { seq: number; reason: string; dead_at_ms: number }, [number, number]>(`SELECT seq, ${COLUMNS}, reason, dead_at_ms FROM dlq WHERE seq > ? ORDER BY seq LIMIT ?`).all(after, limit + 1),
    );
    const page = rows.slice(0, limit);
    const items: DeadLetter[] = page.map((r) => ({ ...toEvent(r), reason: r.reason, deadAtMs: r.dead_at_ms }));
    return { items, next: rows.length > limit ? String(page.at(-1)!.seq) : null };
  }

  async replay(selection: "all" | readonly string[], nowMs: number): Promise<number> {
    if (selection !== "all" && (!Array.isArray(selection) || selection.length > 10_000)) {
      throw new DeliveryError(DeliveryErrorCode.Invalid, "replay takes 'all' or up to 10000 ids");
    }
    const ids = selection === "all" ? null : JSON.stringify(selection);
    const filter = ids === null ? "" : "WHERE id IN (SELECT value FROM json_each(?))";
    const params = ids === null ? [] : [ids];
    return wrap(() =>
      this.#db.transaction(() => {
        const r = this.#db
          .query(`INSERT OR IGNORE INTO events (${COLUMNS}) SELECT id, kind, mailbox, partition, url, destination, body, content_type, signing_ref, 0, ?, created_at_ms, NULL, traceparent FROM dlq ${filter}`)
          .run(Math.floor(nowMs), ...params);
        this.#db.query(`DELETE FROM dlq ${filter}`).run(...params);
        return r.changes;
      })(),
    );
  }

  close(): void {
    this.#db.close();
  }
}

function partitionClause(opts: DueOptions): { clause: string; params: string[] } {
  if (opts.partitions === undefined) return { clause: "", params: [] };
  return { clause: "AND partition IN (SELECT value FROM json_each(?))", params: [JSON.stringify([...opts.partitions])] };
}

function toEvent(r: Row): DeliveryEvent {
  return {
    id: r.id,
    kind: r.kind as DeliveryKind,
    mailbox: r.mailbox,
    partition: r.partition,
    url: r.url,
    destination: r.destination,
    body: new Uint8Array(r.body),
    contentType: r.content_type,
    signingRef: r.signing_ref,
    attempts: r.attempts,
    nextAtMs: r.next_at_ms,
    createdAtMs: r.created_at_ms,
    lastError: r.last_error,
    // Validated on the way out too: the file may predate the check or have been edited.
    ...traceparentField(r.traceparent),
  };
}

function validate(e: NewDeliveryEvent, maxBodyBytes: number): { destination: string } {
  const bad = (what: string) => new DeliveryError(DeliveryErrorCode.Invalid, `invalid event: ${what}`);
  if (typeof e.id !== "string" || e.id.length === 0 || e.id.length > MAX_ID_CHARS) throw bad("id");
  if (!KINDS.has(e.kind)) throw bad("kind");
  if (typeof e.mailbox !== "string" || e.mailbox.length === 0 || e.mailbox.length > 8192) throw bad("mailbox");
  if (!Number.isInteger(e.partition) || e.partition < 0) throw bad("partition");
  if (!(e.body instanceof Uint8Array) || e.body.length > maxBodyBytes) throw bad("body");
  if (typeof e.contentType !== "string" || e.contentType.length === 0 || e.contentType.length > 200) throw bad("contentType");
  if (e.signingRef != null && (typeof e.signingRef !== "string" || e.signingRef.length > 8192)) throw bad("signingRef");
  if (e.notBeforeMs !== undefined && !Number.isFinite(e.notBeforeMs)) throw bad("notBeforeMs");
  return { destination: parseDeliveryUrl(e.url).destination };
}

function clip(s: string | null): string | null {
  return s === null ? null : s.slice(0, MAX_REASON_CHARS);
}

/** SQLite failures become a retryable DeliveryError; validation errors pass through. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DeliveryError) throw e;
    throw new DeliveryError(DeliveryErrorCode.Storage, "delivery queue storage failed", { retryable: true, cause: e });
  }
}
