// Bounded, expiring memory of confirmed records (by dedupId) and of applied-but-unconfirmed stream seqs, so a
// record re-published after a NATS-wide loss is not delivered again once the recipient confirmed it.

export class Tombstones {
  /** streamSeq -> dedupId for applied records not yet confirmed; insertion order = oldest first. */
  private readonly applied = new Map<number, string>();
  /** dedupId -> expiry (monotonic ms); insertion order = expiry order because the TTL is constant. */
  private readonly confirmed = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxTracked: number,
    private readonly maxTombstones: number,
  ) {}

  /** Remembers which record sits at `streamSeq`; forgets the oldest when over the bound (losing only protection). */
  track(streamSeq: number, dedupId: string): void {
    this.applied.set(streamSeq, dedupId);
    if (this.applied.size > this.maxTracked) this.applied.delete(this.applied.keys().next().value!);
  }

  /** The recipient confirmed the record at `streamSeq`: remember its dedupId until ttl. Returns it (if tracked). */
  confirm(streamSeq: number, nowMs: number): string | undefined {
    const dedupId = this.applied.get(streamSeq);
    if (dedupId === undefined) return undefined;
    this.applied.delete(streamSeq);
    this.confirmDedup(dedupId, nowMs);
    return dedupId;
  }

  /** Remembers a confirmed dedupId until ttl (from this replica's confirm, or another owner's confirmation marker). */
  confirmDedup(dedupId: string, nowMs: number): void {
    this.sweep(nowMs);
    this.confirmed.delete(dedupId); // re-insert so the Map stays in expiry order
    this.confirmed.set(dedupId, nowMs + this.ttlMs);
    if (this.confirmed.size > this.maxTombstones) this.confirmed.delete(this.confirmed.keys().next().value!);
  }

  isConfirmed(dedupId: string, nowMs: number): boolean {
    const exp = this.confirmed.get(dedupId);
    return exp !== undefined && exp > nowMs;
  }

  get trackedCount(): number {
    return this.applied.size;
  }

  get tombstoneCount(): number {
    return this.confirmed.size;
  }

  private sweep(nowMs: number): void {
    for (const [id, exp] of this.confirmed) {
      if (exp > nowMs) return;
      this.confirmed.delete(id);
    }
  }
}
