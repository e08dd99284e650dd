// The node-local replica of the mediation bucket: entries by KV key with their revision, plus a client -> keys index.
import type { Mediation } from "../storage/types.ts";
import { decodeKeyOwner, decodeMediation, type KeyOwner } from "./codec.ts";
import { MEDIATION_PREFIX, RECIPIENT_PREFIX } from "./keys.ts";

/** What the watch and the KV calls feed in: a KV entry (value ignored for deletes) or a known absence. */
export interface CacheInput {
  key: string;
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  value: Uint8Array;
}

export interface CacheEvent {
  key: string;
  revision: number;
  deleted: boolean;
  source: "watch" | "call";
}

interface Slot<T> {
  revision: number;
  /** null = deleted (a tombstone, kept so an older revision arriving late cannot resurrect the entry). */
  value: T | null;
}

/**
 * Holds DIDs and grant timestamps only: no secrets, no tokens. Updates are applied only if their
 * revision is newer than what we hold, so the watch and direct KV reads can race freely.
 */
export class MediationCache {
  readonly #mediations = new Map<string, Slot<Mediation>>();
  readonly #owners = new Map<string, Slot<KeyOwner>>();
  readonly #keysByClient = new Map<string, Set<string>>();
  /** Sorted key lists, rebuilt lazily after a change to that client's keys. */
  readonly #sorted = new Map<string, string[]>();
  readonly #listeners = new Set<(e: CacheEvent) => void>();
  decodeErrors = 0;

  /**
   * Applies one entry; returns false if it was stale or not one of our keys. A malformed value
   * (a foreign writer) counts in decodeErrors and is applied as a deletion: the old value is gone.
   */
  apply(e: CacheInput, source: CacheEvent["source"]): boolean {
    let deleted = e.operation !== "PUT";
    let applied: boolean;
    if (e.key.startsWith(MEDIATION_PREFIX)) {
      const m = deleted ? null : (decodeMediation(e.value) ?? this.#malformed());
      deleted = m === null;
      applied = this.#applyMediation(e.key, e.revision, m);
    } else if (e.key.startsWith(RECIPIENT_PREFIX)) {
      const o = deleted ? null : (decodeKeyOwner(e.value) ?? this.#malformed());
      deleted = o === null;
      applied = this.#applyOwner(e.key, e.revision, o);
    } else {
      return false; // not a key we write; ignore rather than fail
    }
    if (applied) for (const fn of this.#listeners) fn({ key: e.key, revision: e.revision, deleted, source });
    return applied;
  }

  /** Local write-through after a successful put or delete. */
  putMediation(key: string, revision: number, m: Mediation): void {
    if (this.#applyMediation(key, revision, { ...m })) this.#emit(key, revision, false);
  }

  putOwner(key: string, revision: number, o: KeyOwner | null): void {
    if (this.#applyOwner(key, revision, o)) this.#emit(key, revision, o === null);
  }

  /** The mediation stored under `key`, checked against the DID asked for (guards against a foreign writer). */
  mediation(key: string, clientDid: string): Mediation | undefined {
    const v = this.#mediations.get(key)?.value;
    return v != null && v.clientDid === clientDid ? { ...v } : undefined;
  }

  owner(key: string, recipientDid: string): string | undefined {
    const v = this.#owners.get(key)?.value;
    return v != null && v.recipientDid === recipientDid ? v.clientDid : undefined;
  }

  /** Revision held for `key` (0 if unknown). */
  revisionOf(key: string): number {
    return (this.#mediations.get(key) ?? this.#owners.get(key))?.revision ?? 0;
  }

  keysOf(clientDid: string): readonly string[] {
    let sorted = this.#sorted.get(clientDid);
    if (sorted === undefined) {
      const set = this.#keysByClient.get(clientDid);
      if (set === undefined) return [];
      // Default sort compares UTF-16 code units: the contract's order.
      sorted = [...set].sort();
      this.#sorted.set(clientDid, sorted);
    }
    return sorted;
  }

  onChange(fn: (e: CacheEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get size(): { mediations: number; keys: number } {
    let keys = 0;
    for (const s of this.#keysByClient.values()) keys += s.size;
    return { mediations: this.#mediations.size, keys };
  }

  clearListeners(): void {
    this.#listeners.clear();
  }

  #applyMediation(key: string, revision: number, m: Mediation | null): boolean {
    const cur = this.#mediations.get(key);
    if (cur !== undefined && cur.revision >= revision) return false;
    this.#mediations.set(key, { revision, value: m });
    return true;
  }

  #applyOwner(key: string, revision: number, o: KeyOwner | null): boolean {
    const cur = this.#owners.get(key);
    if (cur !== undefined && cur.revision >= revision) return false;
    if (cur?.value != null) this.#unindex(cur.value);
    this.#owners.set(key, { revision, value: o });
    if (o !== null) this.#index(o);
    return true;
  }

  #index(o: KeyOwner): void {
    let set = this.#keysByClient.get(o.clientDid);
    if (set === undefined) this.#keysByClient.set(o.clientDid, (set = new Set()));
    set.add(o.recipientDid);
    this.#sorted.delete(o.clientDid);
  }

  #unindex(o: KeyOwner): void {
    const set = this.#keysByClient.get(o.clientDid);
    if (set === undefined) return;
    set.delete(o.recipientDid);
    if (set.size === 0) this.#keysByClient.delete(o.clientDid);
    this.#sorted.delete(o.clientDid);
  }

  #emit(key: string, revision: number, deleted: boolean): void {
    for (const fn of this.#listeners) fn({ key, revision, deleted, source: "call" });
  }

  #malformed(): null {
    this.decodeErrors++;
    return null;
  }
}
