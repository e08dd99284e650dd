// SQLite MediationStore: grants and key ownership; writes go through group commit, reads are direct.
import type { Statement } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { Mediation, MediationStore } from "../types.ts";
import { checkKey, checkMediation, checkPage } from "../validate.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { read, write, type SqliteContext } from "./context.ts";

interface Row {
  client_did: string;
  routing_did: string;
  granted_at_ms: number;
}

/** ownerOf answers kept in memory (every forward asks): bounded in entries and key characters. */
const OWNER_CACHE_ENTRIES = 8192;
// 1 Mi chars: ~1,700 did:peer:2 keys. The budget is what bounds memory with many mailboxes (each DID ~600 chars).
const OWNER_CACHE_KEY_CHARS = 1024 * 1024;

export class SqliteMediationStore implements MediationStore {
  /**
   * recipient DID -> owning client DID, or null for "not enrolled". Write-through: addKey and removeKey
   * update it inside their batch, a rolled-back batch clears it. Exact because this driver is the only
   * writer of its database and keys are never deleted any other way (mediations are never deleted, so
   * the ON DELETE CASCADE never fires).
   */
  readonly #owners = new BoundedCache<string | null>(OWNER_CACHE_ENTRIES, OWNER_CACHE_KEY_CHARS);
  private readonly selMediation: Statement<Row, [string]>;
  private readonly upsertMediation: Statement<unknown, [string, string, number]>;
  private readonly selOwner: Statement<{ client_did: string }, [string]>;
  private readonly insKey: Statement<unknown, [string, string]>;
  private readonly delKey: Statement<unknown, [string, string]>;
  private readonly selKeys: Statement<{ recipient_did: string }, [string, number, number]>;
  private readonly countKeys: Statement<{ n: number }, [string]>;

  constructor(private readonly ctx: SqliteContext) {
    const db = ctx.db;
    ctx.committer.onRollback(() => this.#owners.clear());
    this.selMediation = db.prepare("SELECT client_did, routing_did, granted_at_ms FROM mediations WHERE client_did = ?");
    this.upsertMediation = db.prepare(
      `INSERT INTO mediations (client_did, routing_did, granted_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (client_did) DO UPDATE SET routing_did = excluded.routing_did, granted_at_ms = excluded.granted_at_ms`,
    );
    this.selOwner = db.prepare("SELECT client_did FROM keys WHERE recipient_did = ?");
    this.insKey = db.prepare("INSERT INTO keys (recipient_did, client_did) VALUES (?, ?)");
    this.delKey = db.prepare("DELETE FROM keys WHERE recipient_did = ? AND client_did = ?");
    this.selKeys = db.prepare(
      "SELECT recipient_did FROM keys WHERE client_did = ? ORDER BY recipient_did LIMIT ? OFFSET ?",
    );
    this.countKeys = db.prepare("SELECT COUNT(*) AS n FROM keys WHERE client_did = ?");
  }

  get(clientDid: string): Promise<Mediation | undefined> {
    return read(this.ctx.gate, () => {
      checkKey(clientDid, "clientDid");
      const r = this.selMediation.get(clientDid);
      return r === null ? undefined : { clientDid: r.client_did, routingDid: r.routing_did, grantedAtMs: r.granted_at_ms };
    });
  }

  grant(m: Mediation): Promise<void> {
    return write(
      this.ctx,
      () => checkMediation(m),
      () => {
        this.upsertMediation.run(m.clientDid, m.routingDid, m.grantedAtMs);
      },
    );
  }

  addKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change" | "conflict"> {
    return write(
      this.ctx,
      () => {
        checkKey(clientDid, "clientDid");
        checkKey(recipientDid, "recipientDid");
      },
      () => {
        const owner = this.selOwner.get(recipientDid)?.client_did;
        if (owner === clientDid) return "no_change" as const;
        if (owner !== undefined) return "conflict" as const;
        // Checked here rather than left to the foreign key: an FK failure would abort the whole batch.
        if (this.selMediation.get(clientDid) === null) {
          return new StorageError(StorageErrorCode.NotFound, "no mediation for client");
        }
        this.insKey.run(recipientDid, clientDid);
        this.#owners.set(recipientDid, clientDid);
        return "success" as const;
      },
    );
  }

  removeKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change"> {
    return write(
      this.ctx,
      () => {
        checkKey(clientDid, "clientDid");
        checkKey(recipientDid, "recipientDid");
      },
      () => {
        if (this.delKey.run(recipientDid, clientDid).changes === 0) return "no_change";
        this.#owners.set(recipientDid, null);
        return "success";
      },
    );
  }

  listKeys(clientDid: string, opts: { offset: number; limit: number }): Promise<{ keys: string[]; total: number }> {
    return read(this.ctx.gate, () => {
      checkKey(clientDid, "clientDid");
      checkPage(opts);
      const keys = this.selKeys.all(clientDid, opts.limit, opts.offset).map((r) => r.recipient_did);
      return { keys, total: this.countKeys.get(clientDid)!.n };
    });
  }

  ownerOf(recipientDid: string): Promise<string | undefined> {
    return read(this.ctx.gate, () => {
      checkKey(recipientDid, "recipientDid");
      const cached = this.#owners.get(recipientDid);
      if (cached !== undefined) return cached ?? undefined;
      // Reads run between batches (flushes are synchronous), so this is the committed state.
      const owner = this.selOwner.get(recipientDid)?.client_did ?? null;
      this.#owners.set(recipientDid, owner);
      return owner ?? undefined;
    });
  }
}
