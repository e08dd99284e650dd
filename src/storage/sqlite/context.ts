// What the SQLite stores share: the connection, the group committer and the open/closed gate.
import type { Database } from "bun:sqlite";
import { StorageError, StorageErrorCode } from "../errors.ts";
import type { Gate } from "../gate.ts";
import type { GroupCommitter } from "./group-commit.ts";

export interface SqliteContext {
  readonly db: Database;
  readonly committer: GroupCommitter;
  readonly gate: Gate;
}

/** Runs a synchronous read; driver failures become a retryable StorageError, never a raw SQLiteError. */
export function read<T>(gate: Gate, body: () => T): Promise<T> {
  try {
    gate.check();
    return Promise.resolve(body());
  } catch (e) {
    if (e instanceof StorageError) return Promise.reject(e);
    return Promise.reject(new StorageError(StorageErrorCode.Unavailable, "storage read failed", { cause: e }));
  }
}

/** Validates synchronously, then queues the write for the next group commit. */
export function write<T>(ctx: SqliteContext, validate: () => void, op: () => T | StorageError): Promise<T> {
  try {
    ctx.gate.check();
    validate();
  } catch (e) {
    return Promise.reject(e);
  }
  return ctx.committer.submit(op);
}
