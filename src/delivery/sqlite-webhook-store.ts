// WebhookStore over SQLite (single-node mode): one row per recipient DID in its own file (or a shared delivery database).
import { Database } from "bun:sqlite";
import { Secret } from "../config/secret.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";
import { checkDid, checkPage, validateWebhook, type WebhookInput, type WebhookPage, type WebhookStore, type WebhookView } from "./webhook-store.ts";

const SCHEMA = `CREATE TABLE IF NOT EXISTS webhooks (
  recipient_did TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID`;

interface Row {
  recipient_did: string;
  url: string;
  created_at_ms: number;
  updated_at_ms: number;
}

export class SqliteWebhookStore implements WebhookStore {
  readonly #db: Database;
  readonly #clock: Clock;

  /** `path`: e.g. DATA_DIR/webhooks.sqlite; ":memory:" for tests. */
  constructor(opts: { path: string; clock?: Clock }) {
    this.#clock = opts.clock ?? systemClock;
    this.#db = wrap(() => new Database(opts.path, { create: true, strict: true }));
    wrap(() => {
      this.#db.run("PRAGMA busy_timeout = 5000");
      if (opts.path !== ":memory:") this.#db.run("PRAGMA journal_mode = WAL");
      this.#db.run(SCHEMA);
    });
  }

  async put(w: WebhookInput): Promise<WebhookView> {
    const v = validateWebhook(w);
    const now = this.#clock.nowMs();
    wrap(() =>
      this.#db
        .query(
          `INSERT INTO webhooks (recipient_did, url, secret, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (recipient_did) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at_ms = excluded.updated_at_ms`,
        )
        .run(v.recipientDid, v.url, v.secret, now, now),
    );
    return (await this.get(v.recipientDid))!;
  }

  async get(recipientDid: string): Promise<WebhookView | null> {
    const row = wrap(() => this.#db.query<Row, [string]>("SELECT recipient_did, url, created_at_ms, updated_at_ms FROM webhooks WHERE recipient_did = ?").get(checkDid(recipientDid)));
    return row === null ? null : view(row);
  }

  async delete(recipientDid: string): Promise<boolean> {
    return wrap(() => this.#db.query("DELETE FROM webhooks WHERE recipient_did = ?").run(checkDid(recipientDid)).changes === 1);
  }

  async list(page?: { limit?: number; after?: string | null }): Promise<WebhookPage> {
    const { limit, after } = checkPage(page);
    const rows = wrap(() =>
      this.#db
        .query<Row, [string, number]>("SELECT recipient_did, url, created_at_ms, updated_at_ms FROM webhooks WHERE recipient_did > ? ORDER BY recipient_did LIMIT ?")
        .all(after ?? "", limit + 1),
    );
    const items = rows.slice(0, limit).map(view);
    return { items, next: rows.length > limit ? items.at(-1)!.recipientDid : null };
  }

  async resolveSecret(recipientDid: string): Promise<Secret | null> {
    const row = wrap(() => this.#db.query<{ secret: string }, [string]>("SELECT secret FROM webhooks WHERE recipient_did = ?").get(checkDid(recipientDid)));
    return row === null ? null : new Secret(row.secret);
  }

  close(): void {
    this.#db.close();
  }
}

function view(r: Row): WebhookView {
  return { recipientDid: r.recipient_did, url: r.url, createdAtMs: r.created_at_ms, updatedAtMs: r.updated_at_ms };
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DeliveryError) throw e;
    throw new DeliveryError(DeliveryErrorCode.Storage, "webhook storage failed", { retryable: true, cause: e });
  }
}
