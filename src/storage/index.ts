// Public surface of the storage layer: contract types, errors and the two drivers.
export type {
  EnqueueRequest,
  EnqueueResult,
  MailboxStats,
  Mediation,
  MediationStore,
  MessageStore,
  Quota,
  ReplayGuard,
  StorageDriver,
  StoredMessage,
} from "./types.ts";
export { StorageError, StorageErrorCode, isStorageError } from "./errors.ts";
export { MAX_KEY_CHARS, MAX_LIMIT, MAX_OFFSET } from "./validate.ts";
export { createMemoryDriver } from "./memory/driver.ts";
export { openSqliteDriver, type SqliteDriverOptions, type SqliteStorageDriver } from "./sqlite/driver.ts";
export type { GroupCommitStats } from "./sqlite/group-commit.ts";
export { MIGRATIONS, applyMigrations, type Migration } from "./sqlite/migrations.ts";
