// Public surface of replicated delivery: the accepting journal, the owner's partition replica, records, errors.
export { ReplicatedJournal, type AcceptResult, type JournalStatus } from "./journal.ts";
export type { ReplicatedJournalOptions, ReplicationLog } from "./journal-options.ts";
export { PartitionReplica, type PartitionReplicaOptions, type ReplicaSink, type ReplicaStatus } from "./replica.ts";
export {
  checkRecord,
  decodeRecord,
  encodeRecord,
  MAX_DEDUP_ID_CHARS,
  MAX_PARTITION,
  MAX_RECORD_KEY_CHARS,
  MAX_RECORD_PAYLOAD_BYTES,
  type MailRecord,
} from "./record.ts";
export {
  DEFAULT_DEDUP_WINDOW_MS,
  DEFAULT_STREAM_NAME,
  ensureMailStream,
  mailSubject,
  resolveStreamOptions,
  type MailStreamOptions,
} from "./stream.ts";
export { Tombstones } from "./tombstones.ts";
export { ReplicationError, ReplicationErrorCode, isReplicationError } from "./errors.ts";
