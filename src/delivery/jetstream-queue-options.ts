// Options of the JetStream event queue (defaults and bounds) and creation of its two streams (HAVEN_EVENTS, HAVEN_DLQ).
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { checkInt, DeliveryError, DeliveryErrorCode } from "./errors.ts";

export interface JetStreamQueueOptions {
  /** Event stream (default "HAVEN_EVENTS", subjects haven.events.<partition>). */
  streamName?: string;
  /** Dead-letter stream (default "HAVEN_DLQ", subjects haven.dlq.<b64url(id)>, latest per subject). */
  dlqStreamName?: string;
  /** KV bucket of schedule state (default "haven_event_state"). */
  stateBucket?: string;
  /** First subject token (default "haven": subjects haven.events.<p>, haven.dlq.<id>). Tests use unique roots. */
  subjectRoot?: string;
  /** Replicas of both streams and the bucket. Default 3, 1..5 (1 for single-server tests). */
  replicas?: number;
  /** PARTITIONS of the cluster (default 64). */
  partitionCount?: number;
  /** JetStream duplicate window: an id enqueued twice within it is stored once. Default 120_000. */
  dedupWindowMs?: number;
  /** How long terminal states (completed / dead-lettered) are kept, i.e. the KV bucket TTL. Default 86_400_000. */
  deliveredRetentionMs?: number;
  /** Deadline per publish (then the outbox takes the event). Default 2000, 50..60_000. */
  publishTimeoutMs?: number;
  /** Deadline of other JetStream API calls. Default 5000, 50..60_000. */
  requestTimeoutMs?: number;
  /** Deadline for loading one partition. Default 30_000. */
  openTimeoutMs?: number;
  /** Relay retry interval while the outbox is not empty. Default 1000, 10..60_000. */
  relayIntervalMs?: number;
  /** Events relayed per batch. Default 100, 1..10_000. */
  relayBatch?: number;
  /** Largest event body. Default 256 KiB (must fit the server's max_payload). */
  maxBodyBytes?: number;
  clock?: Clock;
  /** Called when a new event becomes pending on this node (wire it to dispatcher.wake()). */
  onEvent?: () => void;
  log?: { warn(obj: object, msg: string): void } | null;
}

export interface ResolvedJsQueueOptions {
  readonly streamName: string;
  readonly dlqStreamName: string;
  readonly stateBucket: string;
  readonly replicas: number;
  /** "haven.events." */
  readonly eventPrefix: string;
  /** "haven.dlq." */
  readonly dlqPrefix: string;
  readonly partitionCount: number;
  readonly dedupWindowMs: number;
  readonly deliveredRetentionMs: number;
  readonly publishTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly openTimeoutMs: number;
  readonly relayIntervalMs: number;
  readonly relayBatch: number;
  readonly maxBodyBytes: number;
  /** maxBodyBytes plus room for the other fields. */
  readonly maxRecordBytes: number;
  readonly clock: Clock;
  readonly onEvent: () => void;
  readonly log: { warn(obj: object, msg: string): void } | null;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function name(what: string, v: string): string {
  if (!NAME.test(v)) throw new DeliveryError(DeliveryErrorCode.Invalid, `${what} must match [A-Za-z0-9_-]{1,64}`);
  return v;
}

export function resolveJetStreamQueueOptions(o: JetStreamQueueOptions): ResolvedJsQueueOptions {
  const maxBodyBytes = checkInt("maxBodyBytes", o.maxBodyBytes ?? 256 * 1024, 1, 4 * 2 ** 20);
  return {
    streamName: name("streamName", o.streamName ?? "HAVEN_EVENTS"),
    dlqStreamName: name("dlqStreamName", o.dlqStreamName ?? "HAVEN_DLQ"),
    stateBucket: name("stateBucket", o.stateBucket ?? "haven_event_state"),
    replicas: checkInt("replicas", o.replicas ?? 3, 1, 5),
    eventPrefix: `${name("subjectRoot", o.subjectRoot ?? "haven")}.events.`,
    dlqPrefix: `${o.subjectRoot ?? "haven"}.dlq.`,
    partitionCount: checkInt("partitionCount", o.partitionCount ?? 64, 1, 65_536),
    dedupWindowMs: checkInt("dedupWindowMs", o.dedupWindowMs ?? 120_000, 1000, 86_400_000),
    deliveredRetentionMs: checkInt("deliveredRetentionMs", o.deliveredRetentionMs ?? 86_400_000, 60_000, 30 * 86_400_000),
    publishTimeoutMs: checkInt("publishTimeoutMs", o.publishTimeoutMs ?? 2000, 50, 60_000),
    requestTimeoutMs: checkInt("requestTimeoutMs", o.requestTimeoutMs ?? 5000, 50, 60_000),
    openTimeoutMs: checkInt("openTimeoutMs", o.openTimeoutMs ?? 30_000, 100, 600_000),
    relayIntervalMs: checkInt("relayIntervalMs", o.relayIntervalMs ?? 1000, 10, 60_000),
    relayBatch: checkInt("relayBatch", o.relayBatch ?? 100, 1, 10_000),
    maxBodyBytes,
    maxRecordBytes: maxBodyBytes + 64 * 1024,
    clock: o.clock ?? systemClock,
    onEvent: o.onEvent ?? (() => {}),
    log: o.log ?? null,
  };
}

/** Creates both streams if missing; an existing stream is adopted as is (changing replicas is an operator action). */
export async function ensureDeliveryStreams(jsm: JetStreamManager, o: ResolvedJsQueueOptions): Promise<void> {
  const base = { retention: RetentionPolicy.Limits, storage: StorageType.File, discard: DiscardPolicy.Old, num_replicas: o.replicas };
  await addOrAdopt(jsm, { ...base, name: o.streamName, subjects: [`${o.eventPrefix}*`], duplicate_window: o.dedupWindowMs * 1_000_000 });
  await addOrAdopt(jsm, { ...base, name: o.dlqStreamName, subjects: [`${o.dlqPrefix}*`], max_msgs_per_subject: 1, duplicate_window: o.dedupWindowMs * 1_000_000 });
}

async function addOrAdopt(jsm: JetStreamManager, config: Parameters<JetStreamManager["streams"]["add"]>[0] & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (e) {
    try {
      await jsm.streams.info(config.name);
    } catch {
      throw new DeliveryError(DeliveryErrorCode.StoreUnavailable, `cannot create stream ${config.name}`, { retryable: true, cause: e });
    }
  }
}
