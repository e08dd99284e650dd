// SQLite ReplayGuard: durable (sender, message id) records; each write also purges a few expired rows.
import type { Statement } from "bun:sqlite";
import type { ReplayGuard } from "../types.ts";
import { checkReplay } from "../validate.ts";
import { write, type SqliteContext } from "./context.ts";

/** Expired rows deleted per write: > 1, so the table shrinks back to its live size under steady load. */
const PURGE_PER_WRITE = 8;

export class SqliteReplayGuard implements ReplayGuard {
  private readonly sel: Statement<{ e: number }, [string, string]>;
  private readonly upsert: Statement<unknown, [string, string, number]>;
  private readonly purge: Statement<unknown, [number, number]>;

  constructor(private readonly ctx: SqliteContext) {
    const db = ctx.db;
    this.sel = db.prepare("SELECT expires_at_ms AS e FROM replay WHERE sender = ? AND message_id = ?");
    this.upsert = db.prepare(
      `INSERT INTO replay (sender, message_id, expires_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (sender, message_id) DO UPDATE SET expires_at_ms = excluded.expires_at_ms`,
    );
    this.purge = db.prepare(
      `DELETE FROM replay WHERE rowid IN
         (SELECT rowid FROM replay WHERE expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?)`,
    );
  }

  checkAndRecord(sender: string, messageId: string, nowMs: number, ttlMs: number): Promise<boolean> {
    let expiresAtMs = 0;
    return write(
      this.ctx,
      () => {
        expiresAtMs = checkReplay(sender, messageId, nowMs, ttlMs);
      },
      () => {
        const prior = this.sel.get(sender, messageId);
        if (prior !== null && prior.e > nowMs) return false;
        this.upsert.run(sender, messageId, expiresAtMs);
        this.purge.run(nowMs, PURGE_PER_WRITE);
        return true;
      },
    );
  }
}
