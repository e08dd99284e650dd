// Public surface of the delivery core: breaker, retry policy, webhook signing, event queue, dispatcher, metrics hooks.
export { DeliveryError, DeliveryErrorCode } from "./errors.ts";
export { destinationOf, destinationKey, parseDeliveryUrl, MAX_URL_CHARS, type ParsedDeliveryUrl } from "./destination.ts";
export { resolveRetryPolicy, backoffCeilingMs, backoffMs, canRetry, nextRetry, type RetryPolicy, type RetryPolicyOptions } from "./retry-policy.ts";
export {
  webhookBody,
  webhookHeaders,
  signBody,
  verifySignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  IDEMPOTENCY_HEADER,
  WEBHOOK_EVENT_TYPE,
  MIN_SECRET_BYTES,
  MAX_SECRET_BYTES,
  type WebhookEventInput,
} from "./signing.ts";
export type { BreakerPhase, BreakerRecord, BreakerHolder, BreakerMark } from "./breaker-record.ts";
export { initialRecord, encodeRecord, decodeRecord, MAX_FAILURE_THRESHOLD } from "./breaker-record.ts";
export { admit, complete, addFailures, mergeLocal, abandon, forceClose, type BreakerRules, type AdmitDecision, type RefusalReason, type TransitionReason, type PhaseChange, type Step } from "./breaker-logic.ts";
export { MemoryBreakerStore, type BreakerStore, type VersionedRecord } from "./breaker-store.ts";
export { KvBreakerStore, DEFAULT_BREAKER_BUCKET, isCasConflict, casModeFor, type BreakerCasMode, type KvBreakerStoreOptions } from "./kv-breaker-store.ts";
export { DistributedBreaker, type BreakerResetResult } from "./breaker.ts";
export { resolveBreakerOptions, type BreakerOptions } from "./breaker-options.ts";
export type { Admission, BreakerMode, BreakerPermit, BreakerSnapshot, BreakerTransition } from "./breaker-types.ts";
export type { DeliveryKind, NewDeliveryEvent, DeliveryEvent, DueOptions, EventQueue, DeadLetter, DlqPage, DlqStore } from "./event-queue.ts";
export { SqliteEventQueue, type SqliteQueueOptions } from "./sqlite-queue.ts";
export { classifyStatus, networkFailure, timeoutFailure, parseRetryAfter, outcomeLabel, type AttemptOutcome, type AttemptResult } from "./outcome.ts";
export { plainPreparer, webhookPreparer, type PreparedRequest, type RequestPreparer } from "./request.ts";
export { Dispatcher } from "./dispatcher.ts";
export { resolveDispatcherOptions, type DispatcherOptions, type BreakerGate, type FetchLike, type DispatcherLog } from "./dispatcher-options.ts";
export {
  noopDeliveryMetrics,
  DeliveryCounters,
  teeMetrics,
  type DeliveryMetrics,
  type DeliveryOutcome,
  type AttemptSample,
  type OutcomeSample,
  type DeliveryCountersSnapshot,
} from "./metrics.ts";
export { JetStreamEventQueue, type JetStreamQueueStatus } from "./jetstream-queue.ts";
export { resolveJetStreamQueueOptions, ensureDeliveryStreams, type JetStreamQueueOptions } from "./jetstream-queue-options.ts";
export { EVENT_SUBJECT_PREFIX, DLQ_SUBJECT_PREFIX, eventSubject } from "./js-records.ts";
export { validateWebhook, secretLookup, MAX_WEBHOOK_PAGE, type WebhookInput, type WebhookView, type WebhookPage, type WebhookStore } from "./webhook-store.ts";
export { SqliteWebhookStore } from "./sqlite-webhook-store.ts";
export { KvWebhookStore, DEFAULT_WEBHOOK_BUCKET, type KvWebhookStoreOptions } from "./kv-webhook-store.ts";
