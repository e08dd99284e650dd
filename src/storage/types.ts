// The narrow storage contract the mailbox actors use: messages, mediations, replay guard (milestone #3, H6).

export interface EnqueueRequest {
  id: string;
  /** The client (mediated agent) DID that owns the mailbox. */
  mailbox: string;
  recipientDid: string;
  /** The forwarded JWE as UTF-8 JSON. Size caps are the caller's. */
  payload: Uint8Array;
  receivedAtMs: number;
  expiresAtMs: number | null;
  /** sender + message id, or an envelope hash. Unique per mailbox while the message is stored. */
  dedupKey: string;
}

/** Per-mailbox limits checked atomically with the insert. */
export interface Quota {
  maxCount: number;
  maxBytes: number;
}

export type EnqueueResult =
  | { status: "stored"; id: string }
  /** `id` is the id of the already stored copy. */
  | { status: "duplicate"; id: string }
  | { status: "quota_exceeded"; limit: "count" | "bytes" };

export interface StoredMessage {
  id: string;
  mailbox: string;
  recipientDid: string;
  payload: Uint8Array;
  sizeBytes: number;
  receivedAtMs: number;
  expiresAtMs: number | null;
}

export interface MailboxStats {
  count: number;
  totalBytes: number;
  oldestReceivedAtMs: number | null;
  newestReceivedAtMs: number | null;
}

export interface Mediation {
  clientDid: string;
  routingDid: string;
  grantedAtMs: number;
}

export interface MessageStore {
  /** Resolves only once durable (group commit). Writes apply in call order. */
  enqueue(req: EnqueueRequest, quota: Quota): Promise<EnqueueResult>;
  /** Oldest first (receivedAtMs, then arrival order). Includes expired messages not yet purged by expire(). */
  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]>;
  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats>;
  /** Removes only ids in this mailbox; returns the removed count (each id counted once). */
  remove(mailbox: string, ids: readonly string[]): Promise<number>;
  /** Deletes messages with expiresAtMs <= nowMs, earliest expiry first, at most `limit` per call. */
  expire(nowMs: number, limit: number): Promise<number>;
}

export interface MediationStore {
  get(clientDid: string): Promise<Mediation | undefined>;
  /** Idempotent upsert: afterwards get(m.clientDid) equals m. */
  grant(m: Mediation): Promise<void>;
  /** conflict: the key is owned by another client. Throws StorageError `not_found` without a mediation. */
  addKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change" | "conflict">;
  removeKey(clientDid: string, recipientDid: string): Promise<"success" | "no_change">;
  /** Keys sorted by code unit order, paged by offset. */
  listKeys(clientDid: string, opts: { offset: number; limit: number }): Promise<{ keys: string[]; total: number }>;
  ownerOf(recipientDid: string): Promise<string | undefined>;
}

/** Message ids seen per sender; each record lives for its TTL. */
export interface ReplayGuard {
  /** true = first time seen (or the earlier record expired); the record then lives until nowMs + ttlMs. */
  checkAndRecord(sender: string, messageId: string, nowMs: number, ttlMs: number): Promise<boolean>;
}

export interface StorageDriver {
  readonly name: string;
  messages: MessageStore;
  mediations: MediationStore;
  replay: ReplayGuard;
  /** Never throws. */
  health(): Promise<{ ok: boolean; detail: string }>;
  /** Flushes pending writes, then releases resources. Later calls reject with StorageError `closed`. */
  close(): Promise<void>;
}
