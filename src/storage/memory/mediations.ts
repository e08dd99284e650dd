// In-memory MediationStore: mediation grants and the recipient-key -> client ownership map.
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { Mediation, MediationStore } from "../types.ts";
import { attempt, checkKey, checkMediation, checkPage } from "../validate.ts";
import type { Gate } from "../gate.ts";

export class MemoryMediationStore implements MediationStore {
  private readonly mediations = new Map<string, Mediation>();
  private readonly owners = new Map<string, string>(); // recipientDid -> clientDid
  private readonly keysByClient = new Map<string, Set<string>>();

  constructor(private readonly gate: Gate) {}

  get(clientDid: string): Promise<Mediation | undefined> {
    return attempt(() => {
      this.gate.check();
      checkKey(clientDid, "clientDid");
      const m = this.mediations.get(clientDid);
      return m === undefined ? undefined : { ...m };
    });
  }

  grant(m: Mediation): Promise<void> {
    return attempt(() => {
      this.gate.check();
      checkMediation(m);
      this.mediations.set(m.clientDid, { clientDid: m.clientDid, routingDid: m.routingDid, grantedAtMs: m.grantedAtMs });
    });
  }

  addKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change" | "conflict"> {
    return attempt(() => {
      this.gate.check();
      checkKey(clientDid, "clientDid");
      checkKey(recipientDid, "recipientDid");
      const owner = this.owners.get(recipientDid);
      if (owner === clientDid) return "no_change";
      if (owner !== undefined) return "conflict";
      if (!this.mediations.has(clientDid)) throw new StorageError(StorageErrorCode.NotFound, "no mediation for client");
      this.owners.set(recipientDid, clientDid);
      let keys = this.keysByClient.get(clientDid);
      if (keys === undefined) this.keysByClient.set(clientDid, (keys = new Set()));
      keys.add(recipientDid);
      return "success";
    });
  }

  removeKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change"> {
    return attempt(() => {
      this.gate.check();
      checkKey(clientDid, "clientDid");
      checkKey(recipientDid, "recipientDid");
      if (this.owners.get(recipientDid) !== clientDid) return "no_change";
      this.owners.delete(recipientDid);
      const keys = this.keysByClient.get(clientDid)!;
      keys.delete(recipientDid);
      if (keys.size === 0) this.keysByClient.delete(clientDid);
      return "success";
    });
  }

  listKeys(clientDid: string, opts: { offset: number; limit: number }): Promise<{ keys: string[]; total: number }> {
    return attempt(() => {
      this.gate.check();
      checkKey(clientDid, "clientDid");
      checkPage(opts);
      const all = [...(this.keysByClient.get(clientDid) ?? [])].sort(compareCodeUnits);
      return { keys: all.slice(opts.offset, opts.offset + opts.limit), total: all.length };
    });
  }

  ownerOf(recipientDid: string): Promise<string | undefined> {
    return attempt(() => {
      this.gate.check();
      checkKey(recipientDid, "recipientDid");
      return this.owners.get(recipientDid);
    });
  }
}

/** Binary (UTF-16 code unit) order. SQLite's BINARY collation compares UTF-8 bytes, which agrees except for astral vs U+E000..U+FFFF; DIDs are ASCII. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
