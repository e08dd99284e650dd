// Opens a NATS KV bucket that several nodes may be creating at the same moment: one idempotent stream add, then bind.
import type { NatsConnection } from "@nats-io/nats-core";
import { DiscardPolicy, jetstream, JetStreamApiError, jetstreamManager, RetentionPolicy, StorageType, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";

export interface KvBucketSpec {
  bucket: string;
  replicas: number;
  /** Values kept per key (1 for all our buckets). */
  history: number;
  /** Bucket-wide TTL (max_age); 0 = none. */
  ttlMs?: number;
  maxBytes?: number;
  maxValueBytes?: number;
}

export interface OpenKvBucketOptions {
  /** Timeout of ordinary calls on the returned KV (the JetStream client's request timeout). */
  callTimeoutMs: number;
  /**
   * Timeout of the create itself. Creating a replicated stream waits for its raft group to elect a
   * leader: on a 3-server 2.9 cluster that alone takes 200-800 ms, longer than an ordinary KV call.
   * Default 10_000.
   */
  createTimeoutMs?: number;
  /**
   * When the bucket already exists with a shorter TTL (or none) than `spec.ttlMs`, raise it to `spec.ttlMs`.
   * For buckets whose TTL is a safety bound (leases: a key must not vanish before its holder's lease ends),
   * adopting a shorter TTL that an operator or an older config left would break fencing. A longer TTL is
   * kept: it never shortens anyone's lease, it only delays the takeover of a dead holder's keys.
   */
  raiseTtl?: boolean;
}

/** The stream config `Kvm.create` would build for these options (so buckets made by either are the same). */
export function kvStreamConfig(spec: KvBucketSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: `KV_${spec.bucket}`,
    subjects: [`$KV.${spec.bucket}.>`],
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: spec.history,
    ...(spec.maxBytes !== undefined ? { max_bytes: spec.maxBytes } : {}),
    max_msg_size: spec.maxValueBytes ?? -1,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    allow_direct: true,
    num_replicas: spec.replicas,
    ...(spec.ttlMs ? { max_age: spec.ttlMs * 1_000_000 } : {}),
    allow_rollup_hdrs: true,
  };
}

/** Default bound on creating or binding a bucket. */
export const OPEN_BUCKET_TIMEOUT_MS = 10_000;
/** The stores bound their open at this many ordinary call timeouts (500 ms calls: 10 s). */
export const OPEN_BUCKET_TIMEOUT_FACTOR = 20;

/** "stream name already in use" (10058): the bucket exists with another config (e.g. an operator changed it). */
const STREAM_NAME_IN_USE = 10058;

/**
 * Why not `new Kvm(js).create()`: it asks STREAM.INFO first and adds the stream on "not found". On a 2.9
 * cluster, while another node's create is being applied, the stream is assigned but its raft group has no
 * leader yet; in that window the server drops both STREAM.INFO and a duplicate STREAM.CREATE (the meta
 * leader forwards the latter as an info request to the leaderless group): the caller just times out. That
 * was the start-up race, and retrying blindly only papered over it.
 *
 * So: subscribe to the stream's LEADER_ELECTED advisory first, then send the idempotent CREATE (same config
 * on every node). Whichever comes first decides: the CREATE's answer, or the advisory (the group can answer
 * now) followed by STREAM.INFO. No request is repeated and nothing waits on a guess. Only if the bucket
 * exists with another config ("name in use") do we bind to it as it is.
 */
export async function openKvBucket(nc: NatsConnection, spec: KvBucketSpec, o: OpenKvBucketOptions): Promise<KV> {
  const createTimeoutMs = o.createTimeoutMs ?? OPEN_BUCKET_TIMEOUT_MS;
  const stream = `KV_${spec.bucket}`;
  const jsm = await jetstreamManager(nc, { timeout: createTimeoutMs, checkAPI: false });
  const advisory = nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${stream}`, { max: 1 });
  let info: StreamInfo;
  try {
    const elected = (async () => {
      for await (const _ of advisory) return true;
      return false; // unsubscribed: the create answered first
    })();
    const created = jsm.streams.add(kvStreamConfig(spec)).catch(async (e: unknown) => {
      if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
      return jsm.streams.info(stream);
    });
    created.catch(() => {}); // if the advisory path wins, a late failure of the dropped create is moot
    info = await Promise.race([
      created,
      elected.then((yes) => (yes ? jsm.streams.info(stream) : created)),
    ]);
  } finally {
    advisory.unsubscribe();
  }
  if (o.raiseTtl === true && spec.ttlMs !== undefined && spec.ttlMs > 0) {
    const wantNs = spec.ttlMs * 1_000_000;
    const haveNs = info.config.max_age ?? 0;
    if (haveNs === 0 || haveNs < wantNs) {
      // The server refuses a duplicate window longer than max_age (a bucket without TTL has the 2 min default).
      const duplicateWindowNs = Math.min(info.config.duplicate_window ?? wantNs, wantNs);
      info = await jsm.streams.update(stream, { ...info.config, max_age: wantNs, duplicate_window: duplicateWindowNs });
    }
  }
  const js = jetstream(nc, { timeout: o.callTimeoutMs, checkAPI: false });
  return new Kvm(js).open(spec.bucket, { allow_direct: info.config.allow_direct === true });
}
