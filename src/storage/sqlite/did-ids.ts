// DID interning for the SQLite driver: each DID is stored once in `dids`, and message rows and indexes use its integer id.
import type { Database, Statement } from "bun:sqlite";
import { BoundedCache } from "./bounded-cache.ts";
import type { GroupCommitter } from "./group-commit.ts";

export interface DidIdsOptions {
  /** DIDs whose ids are kept in memory. Default 8192, 1..1_000_000. */
  maxEntries?: number;
  /** Bound on the cached DIDs' total characters (they run to a few KB each). Default 1M (~1,700 did:peer:2 DIDs), 1..256M. */
  maxKeyChars?: number;
}

function bounded(value: number | undefined, fallback: number, min: number, max: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${field} must be an integer in ${min}..${max}`);
  return v;
}

/**
 * DID <-> integer id. Rows are only ever added (never renumbered or deleted), so a cached id stays right for as long
 * as the row exists; the one way a cached id can go stale is a rolled-back batch that inserted it, hence the cache is
 * cleared on rollback. Exact because this driver is the only writer of its database.
 */
export class DidIds {
  readonly #ids: BoundedCache<number>;
  private readonly selId: Statement<{ did_id: number }, [string]>;
  private readonly selDid: Statement<{ did: string }, [number]>;
  private readonly insert: Statement<{ did_id: number }, [string]>;

  constructor(db: Database, committer: GroupCommitter, options: DidIdsOptions = {}) {
    this.#ids = new BoundedCache<number>(
      bounded(options.maxEntries, 8192, 1, 1_000_000, "maxEntries"),
      bounded(options.maxKeyChars, 1024 * 1024, 1, 256 * 1024 * 1024, "maxKeyChars"),
    );
    committer.onRollback(() => this.#ids.clear());
    this.selId = db.prepare("SELECT did_id FROM dids WHERE did = ?");
    this.selDid = db.prepare("SELECT did FROM dids WHERE did_id = ?");
    this.insert = db.prepare("INSERT INTO dids (did) VALUES (?) RETURNING did_id");
  }

  /** The DID's id, or undefined if it was never stored. Safe outside a write batch (reads committed rows). */
  find(did: string): number | undefined {
    const cached = this.#ids.get(did);
    if (cached !== undefined) return cached;
    const row = this.selId.get(did);
    if (row === null) return undefined; // not cached: a later write may add it
    this.#ids.set(did, row.did_id);
    return row.did_id;
  }

  /** The DID's id, adding the DID if needed. Only inside a write batch (the insert must roll back with it). */
  intern(did: string): number {
    const found = this.find(did);
    if (found !== undefined) return found;
    const row = this.insert.get(did);
    if (row === null) throw new Error("dids insert returned no id"); // invariant: RETURNING yields the new row
    this.#ids.set(did, row.did_id);
    return row.did_id;
  }

  /** The DID of an id read from a message row; the row's presence guarantees the DID's. */
  didOf(id: number): string {
    const row = this.selDid.get(id);
    if (row === null) throw new Error(`dids row ${id} missing`); // invariant: dids rows are never deleted
    return row.did;
  }
}
