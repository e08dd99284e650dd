// In-memory ReplayGuard: (sender, message id) -> expiry, swept when the map doubles so memory stays bounded by live records.
import type { ReplayGuard } from "../types.ts";
import { attempt, checkReplay } from "../validate.ts";
import type { Gate } from "../gate.ts";

const MIN_SWEEP_SIZE = 1024;

export class MemoryReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>(); // key -> expiresAtMs
  private sweepAtSize = MIN_SWEEP_SIZE;

  constructor(private readonly gate: Gate) {}

  checkAndRecord(sender: string, messageId: string, nowMs: number, ttlMs: number): Promise<boolean> {
    return attempt(() => {
      this.gate.check();
      const expiresAtMs = checkReplay(sender, messageId, nowMs, ttlMs);
      // Length prefix makes the composite key unambiguous for any sender string.
      const key = `${sender.length}:${sender}${messageId}`;
      const prior = this.seen.get(key);
      if (prior !== undefined && prior > nowMs) return false;
      this.seen.set(key, expiresAtMs);
      if (this.seen.size >= this.sweepAtSize) this.sweep(nowMs);
      return true;
    });
  }

  /** Amortised O(1): a full sweep only after the map has doubled since the last one. */
  private sweep(nowMs: number): void {
    for (const [key, exp] of this.seen) if (exp <= nowMs) this.seen.delete(key);
    this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.seen.size * 2);
  }
}
