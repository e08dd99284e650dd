// Soft mailbox quotas in a cluster: owners publish per-mailbox usage on change (debounced), every node caches it.
import { decode, encode } from "@msgpack/msgpack";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Clock, TimerHandle } from "../runtime/clock.ts";
import type { MailboxStats, Quota } from "../storage/types.ts";

export const USAGE_SUBJECT_PREFIX = "haven.usage.";
const MAX_USAGE_MSG_BYTES = 8192;

export interface UsageOptions {
  nc: NatsConnection;
  clock: Clock;
  /** Publishes of one dirty mailbox are coalesced over this window. Default 200 ms. */
  debounceMs?: number;
  /** Mailboxes remembered by the board (least recently updated dropped first). Default 100_000. */
  maxEntries?: number;
  /** Dirty mailboxes waiting to publish; beyond that further changes wait for the next change. Default 10_000. */
  maxDirty?: number;
}

interface Usage {
  count: number;
  bytes: number;
}

/**
 * Why "soft": a forward is accepted on any node without asking the owner (that would put the owner on
 * the hot path), so the check uses the last usage the owner published. A burst spread over several
 * nodes can overshoot the quota by what arrives within one publish delay; the owner never refuses a
 * record already in the stream. Unknown mailboxes (never published) are accepted.
 */
export class UsageBoard {
  readonly #o: Required<Omit<UsageOptions, "nc" | "clock">> & Pick<UsageOptions, "nc" | "clock">;
  readonly #usage = new Map<string, Usage>();
  readonly #dirty = new Map<string, (mailbox: string) => Promise<MailboxStats>>();
  #sub: Subscription | null = null;
  #timer: TimerHandle | null = null;

  constructor(o: UsageOptions) {
    this.#o = { debounceMs: 200, maxEntries: 100_000, maxDirty: 10_000, ...o };
  }

  start(): void {
    this.#sub ??= this.#o.nc.subscribe(`${USAGE_SUBJECT_PREFIX}*`, {
      callback: (err, m) => {
        if (err || m.data.byteLength > MAX_USAGE_MSG_BYTES) return;
        try {
          const v = decode(m.data, { maxStrLength: MAX_USAGE_MSG_BYTES, maxArrayLength: 4 }) as unknown;
          if (!Array.isArray(v) || typeof v[0] !== "string" || !Number.isSafeInteger(v[1]) || !Number.isSafeInteger(v[2])) return;
          this.#set(v[0], { count: v[1] as number, bytes: v[2] as number });
        } catch {
          // foreign or corrupt data: usage is advisory, ignore it
        }
      },
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = null;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#dirty.clear();
  }

  /** Which limit a new message of `bytes` would break, by the last published usage; null = accept. */
  exceeds(mailbox: string, bytes: number, quota: Quota): "count" | "bytes" | null {
    const u = this.#usage.get(mailbox);
    if (u === undefined) return null;
    if (u.count + 1 > quota.maxCount) return "count";
    if (u.bytes + bytes > quota.maxBytes) return "bytes";
    return null;
  }

  /** Owner side: `mailbox` changed; its stats are read and published after the debounce window. */
  markDirty(partition: number, mailbox: string, stats: (mailbox: string) => Promise<MailboxStats>): void {
    const key = `${partition}\u0000${mailbox}`;
    if (!this.#dirty.has(key) && this.#dirty.size >= this.#o.maxDirty) return;
    this.#dirty.set(key, stats);
    this.#timer ??= this.#o.clock.setTimeout(() => void this.#flush(), this.#o.debounceMs, { unref: true });
  }

  async #flush(): Promise<void> {
    this.#timer = null;
    const batch = [...this.#dirty];
    this.#dirty.clear();
    for (const [key, stats] of batch) {
      const sep = key.indexOf("\u0000");
      const partition = key.slice(0, sep);
      const mailbox = key.slice(sep + 1);
      try {
        const s = await stats(mailbox);
        this.#set(mailbox, { count: s.count, bytes: s.totalBytes });
        this.#o.nc.publish(USAGE_SUBJECT_PREFIX + partition, encode([mailbox, s.count, s.totalBytes]));
      } catch {
        // partition no longer served here, or NATS down: the next change publishes again
      }
    }
  }

  #set(mailbox: string, u: Usage): void {
    this.#usage.delete(mailbox);
    this.#usage.set(mailbox, u);
    if (this.#usage.size > this.#o.maxEntries) {
      const oldest = this.#usage.keys().next().value;
      if (oldest !== undefined) this.#usage.delete(oldest);
    }
  }
}
