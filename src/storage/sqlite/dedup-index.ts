// In-memory (mailbox id, dedup key) -> rowid index of the messages table: replaces a SQLite UNIQUE index on random keys.
//
// Why: dedup keys are hashes, so every insert into a B-tree index on them landed on a random leaf page, and each
// group commit of N forwards wrote ~N extra 4 KiB pages to the WAL (and again at checkpoint): ~22 us of the ~47 us
// of CPU an enqueue cost (bench-storage: random vs sequential keys). Here a forward costs one hash and a few array
// reads. The index holds no keys, only 32-bit tags and rowids (12 bytes a slot); a tag match is a *candidate* that the
// caller confirms against the row itself, so collisions cost a point read, never a wrong answer. The hash is keyed by a
// per-process random seed, so senders cannot aim many keys at one probe chain.

/** Slots start here and never shrink below it. */
const MIN_CAPACITY = 1024;
/** Grow (double) above this load; shrink (halve) below a quarter of it. Linear probing stays short below ~0.8. */
const MAX_LOAD = 0.75;
/** 2^31 slots x 12 bytes = 24 GiB: far beyond any node; a broken caller, not a real mailbox count. */
const MAX_CAPACITY = 2 ** 31;

export class DedupIndex {
  #tags: Int32Array;
  /** 0 marks an empty slot (SQLite rowids of this table are >= 1). */
  #rowids: Float64Array;
  #mask: number;
  #count = 0;
  readonly #seed: bigint;

  /** `seed` keys the hash; the default is random (unpredictable to senders). */
  constructor(seed: bigint = crypto.getRandomValues(new BigUint64Array(1))[0]!) {
    this.#seed = seed;
    this.#tags = new Int32Array(MIN_CAPACITY);
    this.#rowids = new Float64Array(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
  }

  get size(): number {
    return this.#count;
  }

  get capacity(): number {
    return this.#mask + 1;
  }

  /** The 32-bit tag of a key; its low bits pick the home slot. */
  tagOf(mailboxId: number, dedupKey: string): number {
    const h = Bun.hash.wyhash(`${mailboxId}\u0000${dedupKey}`, this.#seed);
    return Number(BigInt.asIntN(32, h ^ (h >> 32n)));
  }

  /** Calls `visit` with each rowid whose tag matches, until it returns true; returns that rowid or 0. */
  find(tag: number, visit: (rowid: number) => boolean): number {
    const tags = this.#tags;
    const rowids = this.#rowids;
    const mask = this.#mask;
    for (let i = tag & mask; rowids[i] !== 0; i = (i + 1) & mask) {
      if (tags[i] === tag && visit(rowids[i]!)) return rowids[i]!;
    }
    return 0;
  }

  add(tag: number, rowid: number): void {
    if (!Number.isSafeInteger(rowid) || rowid < 1) throw new RangeError(`rowid must be a positive safe integer, got ${rowid}`);
    if (this.#count + 1 > (this.#mask + 1) * MAX_LOAD) this.#resize((this.#mask + 1) * 2);
    this.#place(tag, rowid);
    this.#count++;
  }

  /** Removes the entry (tag, rowid); false when there is none. */
  remove(tag: number, rowid: number): boolean {
    const tags = this.#tags;
    const rowids = this.#rowids;
    const mask = this.#mask;
    let i = tag & mask;
    while (rowids[i] !== 0 && !(tags[i] === tag && rowids[i] === rowid)) i = (i + 1) & mask;
    if (rowids[i] === 0) return false;
    // Backward-shift deletion: pull later entries of the probe run into the hole unless their home slot lies
    // cyclically in (hole, j], so every entry stays reachable from its home without tombstones.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (rowids[j] === 0) break;
      const home = tags[j]! & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      tags[i] = tags[j]!;
      rowids[i] = rowids[j]!;
      i = j;
    }
    tags[i] = 0;
    rowids[i] = 0;
    this.#count--;
    const capacity = this.#mask + 1;
    if (capacity > MIN_CAPACITY && this.#count < capacity * MAX_LOAD * 0.25) this.#resize(capacity / 2);
    return true;
  }

  clear(): void {
    this.#tags = new Int32Array(MIN_CAPACITY);
    this.#rowids = new Float64Array(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
    this.#count = 0;
  }

  #place(tag: number, rowid: number): void {
    const mask = this.#mask;
    let i = tag & mask;
    while (this.#rowids[i] !== 0) i = (i + 1) & mask;
    this.#tags[i] = tag;
    this.#rowids[i] = rowid;
  }

  #resize(capacity: number): void {
    if (capacity > MAX_CAPACITY) throw new RangeError(`dedup index would exceed ${MAX_CAPACITY} slots`);
    const tags = this.#tags;
    const rowids = this.#rowids;
    this.#tags = new Int32Array(capacity);
    this.#rowids = new Float64Array(capacity);
    this.#mask = capacity - 1;
    for (let i = 0; i < rowids.length; i++) if (rowids[i] !== 0) this.#place(tags[i]!, rowids[i]!);
  }
}
