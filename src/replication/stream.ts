// The HAVEN_MAIL stream: subject naming and an idempotent "ensure it exists with our settings" for JetStream 2.9.
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { boundedInt, natsError, ReplicationError, ReplicationErrorCode } from "./errors.ts";

export const DEFAULT_STREAM_NAME = "HAVEN_MAIL";
export const MAIL_SUBJECT_PREFIX = "haven.mail.";
export const DEFAULT_DEDUP_WINDOW_MS = 120_000;

export function mailSubject(partition: number): string {
  return MAIL_SUBJECT_PREFIX + partition;
}

export interface MailStreamOptions {
  /** Stream name; default HAVEN_MAIL. */
  streamName?: string;
  /** JetStream replicas; default 3 (1 for single-server tests). 1..5. */
  replicas?: number;
  /** Nats-Msg-Id duplicate window; default 120000 (covers journal retention). 1000..86400000. */
  dedupWindowMs?: number;
}

export interface ResolvedStreamOptions {
  streamName: string;
  replicas: number;
  dedupWindowMs: number;
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function resolveStreamOptions(o: MailStreamOptions = {}): ResolvedStreamOptions {
  const streamName = o.streamName ?? DEFAULT_STREAM_NAME;
  if (!STREAM_NAME.test(streamName)) {
    throw new ReplicationError(ReplicationErrorCode.InvalidArgument, "streamName must match [A-Za-z0-9_-]{1,64}");
  }
  return {
    streamName,
    replicas: boundedInt(o.replicas, 3, 1, 5, "replicas"),
    dedupWindowMs: boundedInt(o.dedupWindowMs, DEFAULT_DEDUP_WINDOW_MS, 1000, 86_400_000, "dedupWindowMs"),
  };
}

/**
 * Creates the stream if missing (limits retention: messages stay until confirmed and deleted by the owner).
 * If it exists, updates the duplicate window; replicas are left alone (changing them is an operator action).
 * Returns the stream info (its `created` timestamp identifies this incarnation of the stream).
 */
export async function ensureMailStream(jsm: JetStreamManager, opts: ResolvedStreamOptions): Promise<StreamInfo> {
  const config = {
    name: opts.streamName,
    subjects: [MAIL_SUBJECT_PREFIX + "*"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: opts.replicas,
    duplicate_window: opts.dedupWindowMs * 1_000_000, // nanoseconds
  };
  try {
    return await jsm.streams.add(config);
  } catch (e) {
    // "stream name already in use" with a different config: adopt it, align the dedup window.
    try {
      const info = await jsm.streams.info(opts.streamName);
      if (info.config.duplicate_window !== config.duplicate_window) {
        return await jsm.streams.update(opts.streamName, { duplicate_window: config.duplicate_window });
      }
      return info;
    } catch (cause) {
      throw natsError("could not create or inspect the mail stream", cause ?? e);
    }
  }
}
