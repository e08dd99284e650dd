// In-memory MessageStore: the reference semantics every other driver must match (see test/storage/conformance.ts).
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { EnqueueRequest, EnqueueResult, MailboxStats, MessageStore, Quota, StoredMessage } from "../types.ts";
import { attempt, checkEnqueue, checkKey, checkLimit, checkList, checkRemove, checkUint } from "../validate.ts";
import type { Gate } from "../gate.ts";

interface Entry {
  readonly msg: StoredMessage; // payload is our private copy
  readonly dedupKey: string;
  readonly seq: number; // arrival order: the tie-break for equal timestamps
}

interface Mailbox {
  /** Sorted by (receivedAtMs, seq). Timestamps are mostly monotonic, so inserts are mostly appends. */
  readonly entries: Entry[];
  readonly byDedup: Map<string, string>;
  count: number;
  bytes: number;
}

function before(a: Entry, receivedAtMs: number, seq: number): boolean {
  return a.msg.receivedAtMs < receivedAtMs || (a.msg.receivedAtMs === receivedAtMs && a.seq < seq);
}

/** First index whose entry is not before (receivedAtMs, seq). */
function lowerBound(entries: Entry[], receivedAtMs: number, seq: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(entries[mid]!, receivedAtMs, seq)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function copyOut(m: StoredMessage): StoredMessage {
  return { ...m, payload: m.payload.slice() };
}

export class MemoryMessageStore implements MessageStore {
  private readonly mailboxes = new Map<string, Mailbox>();
  private readonly byId = new Map<string, Entry>();
  private nextSeq = 0;

  constructor(private readonly gate: Gate) {}

  enqueue(req: EnqueueRequest, quota: Quota): Promise<EnqueueResult> {
    return attempt(() => {
      this.gate.check();
      checkEnqueue(req, quota);
      const box = this.mailboxes.get(req.mailbox);
      // Check order is part of the contract: dedup, then quota, then id conflict.
      const existing = box?.byDedup.get(req.dedupKey);
      if (existing !== undefined) return { status: "duplicate", id: existing };
      const size = req.payload.byteLength;
      if ((box?.count ?? 0) + 1 > quota.maxCount) return { status: "quota_exceeded", limit: "count" };
      if ((box?.bytes ?? 0) + size > quota.maxBytes) return { status: "quota_exceeded", limit: "bytes" };
      if (this.byId.has(req.id)) throw new StorageError(StorageErrorCode.Conflict, "message id already in use");
      const msg: StoredMessage = {
        id: req.id,
        mailbox: req.mailbox,
        recipientDid: req.recipientDid,
        payload: req.payload.slice(),
        sizeBytes: size,
        receivedAtMs: req.receivedAtMs,
        expiresAtMs: req.expiresAtMs,
      };
      const entry: Entry = { msg, dedupKey: req.dedupKey, seq: this.nextSeq++ };
      const target = box ?? this.newMailbox(req.mailbox);
      target.entries.splice(lowerBound(target.entries, msg.receivedAtMs, entry.seq), 0, entry);
      target.byDedup.set(req.dedupKey, req.id);
      target.count += 1;
      target.bytes += size;
      this.byId.set(req.id, entry);
      return { status: "stored", id: req.id };
    });
  }

  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]> {
    return attempt(() => {
      this.gate.check();
      checkList(mailbox, opts);
      const out: StoredMessage[] = [];
      for (const e of this.mailboxes.get(mailbox)?.entries ?? []) {
        if (out.length >= opts.limit) break;
        if (opts.recipientDid === undefined || e.msg.recipientDid === opts.recipientDid) out.push(copyOut(e.msg));
      }
      return out;
    });
  }

  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats> {
    return attempt(() => {
      this.gate.check();
      checkKey(mailbox, "mailbox");
      if (recipientDid !== undefined) checkKey(recipientDid, "recipientDid");
      const entries = this.mailboxes.get(mailbox)?.entries ?? [];
      const chosen = recipientDid === undefined ? entries : entries.filter((e) => e.msg.recipientDid === recipientDid);
      return {
        count: chosen.length,
        totalBytes: chosen.reduce((n, e) => n + e.msg.sizeBytes, 0),
        oldestReceivedAtMs: chosen[0]?.msg.receivedAtMs ?? null,
        newestReceivedAtMs: chosen[chosen.length - 1]?.msg.receivedAtMs ?? null,
      };
    });
  }

  remove(mailbox: string, ids: readonly string[]): Promise<number> {
    return attempt(() => {
      this.gate.check();
      checkRemove(mailbox, ids);
      let removed = 0;
      for (const id of ids) {
        const e = this.byId.get(id);
        if (e !== undefined && e.msg.mailbox === mailbox) {
          this.delete(e);
          removed += 1;
        }
      }
      return removed;
    });
  }

  expire(nowMs: number, limit: number): Promise<number> {
    return attempt(() => {
      this.gate.check();
      checkUint(nowMs, "nowMs");
      checkLimit(limit);
      // O(n) scan: fine for a reference implementation.
      const due: Entry[] = [];
      for (const e of this.byId.values()) {
        if (e.msg.expiresAtMs !== null && e.msg.expiresAtMs <= nowMs) due.push(e);
      }
      due.sort((a, b) => a.msg.expiresAtMs! - b.msg.expiresAtMs! || a.seq - b.seq);
      const chosen = due.slice(0, limit);
      for (const e of chosen) this.delete(e);
      return chosen.length;
    });
  }

  private newMailbox(mailbox: string): Mailbox {
    const box: Mailbox = { entries: [], byDedup: new Map(), count: 0, bytes: 0 };
    this.mailboxes.set(mailbox, box);
    return box;
  }

  private delete(e: Entry): void {
    const box = this.mailboxes.get(e.msg.mailbox);
    const at = box === undefined ? -1 : lowerBound(box.entries, e.msg.receivedAtMs, e.seq);
    if (box === undefined || box.entries[at] !== e) throw new Error("memory store invariant: entry not indexed");
    box.entries.splice(at, 1);
    box.byDedup.delete(e.dedupKey);
    box.count -= 1;
    box.bytes -= e.msg.sizeBytes;
    this.byId.delete(e.msg.id);
    if (box.count === 0) this.mailboxes.delete(e.msg.mailbox); // keep memory bounded by live data
  }
}
