// A small FIFO-bounded Map for the SQLite driver's write-through caches: bounded in entries and in key characters.

/**
 * Keys are untrusted strings of up to a few KB (DIDs), so the bound is on total key characters as
 * well as on entries: memory stays bounded whatever the key lengths. Eviction is first-in first-out
 * (cheaper than LRU on the hot path; a hot key evicted by a burst of cold ones is simply reloaded).
 * Callers own consistency: every cache is write-through inside the driver and cleared on rollback.
 */
export class BoundedCache<V> {
  readonly #map = new Map<string, V>();
  #keyChars = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxKeyChars: number,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    if (!Number.isInteger(maxKeyChars) || maxKeyChars < 1) throw new RangeError("maxKeyChars must be a positive integer");
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  set(key: string, value: V): void {
    if (this.#map.has(key)) {
      this.#map.set(key, value);
      return;
    }
    if (key.length > this.maxKeyChars) return; // would evict everything for one entry: not worth caching
    this.#map.set(key, value);
    this.#keyChars += key.length;
    // Oldest first (Map iteration is insertion order); the new key is last, so it survives.
    for (const k of this.#map.keys()) {
      if (this.#map.size <= this.maxEntries && this.#keyChars <= this.maxKeyChars) break;
      this.#map.delete(k);
      this.#keyChars -= k.length;
    }
  }

  delete(key: string): void {
    if (this.#map.delete(key)) this.#keyChars -= key.length;
  }

  clear(): void {
    this.#map.clear();
    this.#keyChars = 0;
  }
}
