// Where breaker records live: the BreakerStore interface (CAS get/create/update) and its in-memory implementation.
import type { BreakerRecord } from "./breaker-record.ts";

export interface VersionedRecord {
  readonly record: BreakerRecord;
  /** Opaque revision for compare-and-swap (the KV revision for the NATS store). */
  readonly revision: number;
}

/**
 * CAS storage of one record per destination. `create`/`update` resolve the new revision, or null on a
 * conflict (someone else wrote first: re-read and re-decide). Any other failure (timeout, connection
 * lost, server error) rejects with DeliveryError(StoreUnavailable).
 */
export interface BreakerStore {
  /** "shared" for the cluster-wide store, "local" for a node's own. */
  readonly kind: "shared" | "local";
  get(destination: string): Promise<VersionedRecord | null>;
  /** Succeeds only if the destination has no record. */
  create(destination: string, record: BreakerRecord): Promise<number | null>;
  /** Succeeds only if the record is still at `revision`. */
  update(destination: string, record: BreakerRecord, revision: number): Promise<number | null>;
  /** A cheap round trip: resolves iff the store answers (used to detect its return after an outage). */
  ping(): Promise<void>;
}

/** Upper bound on destinations kept in memory: beyond it the least recently written are dropped (a dropped record restarts closed). */
export const DEFAULT_MAX_LOCAL_DESTINATIONS = 100_000;

/**
 * In-process store. Records are frozen on write, so callers can never mutate stored state. Used as the
 * fallback when the shared store is down, and as the only store in single-node mode.
 */
export class MemoryBreakerStore implements BreakerStore {
  readonly kind: "shared" | "local";
  readonly #map = new Map<string, VersionedRecord>();
  readonly #maxDestinations: number;
  #revision = 0;

  constructor(opts: { kind?: "shared" | "local"; maxDestinations?: number } = {}) {
    this.kind = opts.kind ?? "local";
    this.#maxDestinations = opts.maxDestinations ?? DEFAULT_MAX_LOCAL_DESTINATIONS;
  }

  async get(destination: string): Promise<VersionedRecord | null> {
    return this.#map.get(destination) ?? null;
  }

  async create(destination: string, record: BreakerRecord): Promise<number | null> {
    if (this.#map.has(destination)) return null;
    return this.#put(destination, record);
  }

  async update(destination: string, record: BreakerRecord, revision: number): Promise<number | null> {
    if (this.#map.get(destination)?.revision !== revision) return null;
    return this.#put(destination, record);
  }

  async ping(): Promise<void> {}

  /** Destinations with a record (for reconciliation). */
  destinations(): string[] {
    return [...this.#map.keys()];
  }

  getSync(destination: string): VersionedRecord | null {
    return this.#map.get(destination) ?? null;
  }

  delete(destination: string): void {
    this.#map.delete(destination);
  }

  clear(): void {
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }

  #put(destination: string, record: BreakerRecord): number {
    const revision = ++this.#revision;
    this.#map.delete(destination); // re-insert: Map order is then least recently written first
    this.#map.set(destination, Object.freeze({ record: deepFreeze(record), revision }));
    if (this.#map.size > this.#maxDestinations) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    return revision;
  }
}

function deepFreeze(r: BreakerRecord): BreakerRecord {
  Object.freeze(r.failSeqs);
  for (const h of r.inFlight) Object.freeze(h);
  Object.freeze(r.inFlight);
  if (r.probe) Object.freeze(r.probe);
  return Object.freeze(r);
}
