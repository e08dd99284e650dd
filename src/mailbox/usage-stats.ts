// Mailbox gauges for /metrics: totals over the mailbox_usage table of SQLite mailbox files, read without DIDs.
import { Database } from "bun:sqlite";
import type { Quota } from "../storage/types.ts";

/** Totals across every non-empty mailbox of one or more files (no mailbox keys leave this function). */
export interface MailboxUsageTotals {
  mailboxes: number;
  messages: number;
  bytes: number;
  /** Messages in the deepest mailbox. */
  maxDepthMessages: number;
  /** Fullest mailbox relative to `quota`, 0..1 (max of the count and bytes ratios). */
  maxFillRatio: number;
}

interface Row {
  mailboxes: number;
  messages: number | null;
  bytes: number | null;
  depth: number | null;
  fill: number | null;
}

/**
 * One aggregate query per file over mailbox_usage (one row per non-empty mailbox, kept exact by triggers), so the
 * cost is O(mailboxes), not O(messages). Files are opened read-only for the query and closed at once: WAL lets this
 * run beside the writer. A file that is missing or being rebuilt is skipped (`skipped` counts them).
 */
export function readMailboxUsage(paths: readonly string[], quota: Quota): MailboxUsageTotals & { skipped: number } {
  if (!(quota.maxCount > 0) || !(quota.maxBytes > 0)) throw new RangeError("quota limits must be positive");
  const out = { mailboxes: 0, messages: 0, bytes: 0, maxDepthMessages: 0, maxFillRatio: 0, skipped: 0 };
  for (const path of paths) {
    let db: Database | undefined;
    try {
      db = new Database(path, { readonly: true });
      const r = db
        .query<Row, [number, number]>(
          `SELECT COUNT(*) AS mailboxes, SUM(count) AS messages, SUM(bytes) AS bytes, MAX(count) AS depth,
                  MAX(MAX(count * 1.0 / ?1, bytes * 1.0 / ?2)) AS fill
             FROM mailbox_usage WHERE count > 0`,
        )
        .get(quota.maxCount, quota.maxBytes);
      if (r === null) continue;
      out.mailboxes += r.mailboxes;
      out.messages += r.messages ?? 0;
      out.bytes += r.bytes ?? 0;
      out.maxDepthMessages = Math.max(out.maxDepthMessages, r.depth ?? 0);
      out.maxFillRatio = Math.max(out.maxFillRatio, Math.min(1, r.fill ?? 0));
    } catch {
      out.skipped++; // not created yet, deleted for a rebuild, or mid-migration: the next scrape sees it
    } finally {
      db?.close();
    }
  }
  return out;
}
