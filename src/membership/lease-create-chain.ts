// Creates several lease keys as one chain of stream-level compare-and-swaps: one read of the stream's last sequence, the keys read at once, then one conditional publish per key.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { isCasConflict } from "../controlplane/kv-call.ts";
import type { Clock } from "../runtime/clock.ts";
import { LeaseTimeoutError, type LeaseEntry } from "./lease-store.ts"; // a cycle, used only inside functions

export interface CreateChainDeps {
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** The bucket's stream ("KV_<bucket>") and subject prefix ("$KV.<bucket>."). */
  stream: string;
  prefix: string;
  clock: Clock;
}

export interface CreateChainOptions {
  /** Monotonic deadline of the whole chain; each request is bounded by what is left of it. */
  deadlineMs: number;
  /** Re-reads after a foreign write broke the chain (1..64). */
  maxRounds: number;
  /** Called right before each create is published: the caller's fence counts from here. */
  onSend: (key: string) => void;
  /** Called as soon as a create is acknowledged (before the next one is sent). */
  onCreated: (key: string, revision: number) => void;
}

export interface CreateChainResult {
  /** key -> revision of the keys this chain created. */
  created: Map<string, number>;
  /** Why the chain stopped early (a timeout or an unexpected error), or null. Keys held by others are no error. */
  error: unknown;
}

/**
 * Why this is a true create on every server version (see KvCas for the single-key form and nats-io/nats-server#4320):
 * L (the stream's last sequence) is read first, then each key's last message from the stream leader, which has
 * applied everything up to L, so every key read is current as of L at least. The first create is published
 * expecting the stream's last sequence to be L; each next one expecting it to be the sequence of the previous
 * create's ack. A create therefore lands only if nothing but this chain's own creates (other keys) was written
 * since L, so its key is still as read. The chain is strictly sequential (the next publish is sent only after the
 * previous one was acknowledged) and stops at the first refusal: a refused write is never followed by a write that
 * expects a later sequence, which could skip over a foreign write to its key. After a refusal it starts again
 * with a fresh L and fresh reads of the keys not created yet.
 *
 * Why: each single create costs three round trips and any write in between forces all three again; a node taking
 * over ten partitions spent most of a second on them. A chain costs two round trips plus one per key.
 */
export async function createChain(d: CreateChainDeps, entries: LeaseEntry[], o: CreateChainOptions): Promise<CreateChainResult> {
  if (!Number.isInteger(o.maxRounds) || o.maxRounds < 1 || o.maxRounds > 64) throw new RangeError("maxRounds must be within 1..64");
  if (new Set(entries.map((e) => e.key)).size !== entries.length) throw new RangeError("createChain: duplicate keys");
  const created = new Map<string, number>();
  let pending = [...entries];
  try {
    for (let round = 0; round < o.maxRounds && pending.length > 0; round++) {
      let last = (await bounded(d, d.jsm.streams.info(d.stream), o.deadlineMs)).state.last_seq;
      const states = await Promise.all(pending.map((e) => bounded(d, d.jsm.streams.getMessage(d.stream, { last_by_subj: d.prefix + e.key }), o.deadlineMs)));
      // A key with a live value is held by another node (or not expired yet): not ours to create this time.
      pending = pending.filter((_, i) => {
        const m = states[i];
        if (m === null || m === undefined) return true;
        const op = m.header?.get("KV-Operation");
        return op === "DEL" || op === "PURGE";
      });
      while (pending.length > 0) {
        const e = pending[0]!;
        o.onSend(e.key);
        try {
          const ack = await bounded(d, d.js.publish(d.prefix + e.key, e.value, { expect: { lastSequence: last } }), o.deadlineMs);
          if (!(ack.seq > last)) throw new Error(`invariant: create acknowledged at ${ack.seq}, not after ${last}`);
          created.set(e.key, ack.seq);
          last = ack.seq;
          pending.shift();
          o.onCreated(e.key, ack.seq);
        } catch (err) {
          if (!isCasConflict(err)) throw err;
          break; // something else was written after `last`: re-read L and the keys left
        }
      }
    }
  } catch (err) {
    return { created, error: err };
  }
  return { created, error: null };
}

/** Races one request against the chain's deadline: past it the outcome of that request is unknown. */
function bounded<T>(d: CreateChainDeps, p: Promise<T>, deadlineMs: number): Promise<T> {
  const leftMs = deadlineMs - d.clock.monotonicMs();
  if (leftMs <= 0) {
    p.catch(() => undefined);
    return Promise.reject(new LeaseTimeoutError("lease create chain: deadline passed"));
  }
  return new Promise<T>((resolve, reject) => {
    const timer = d.clock.setTimeout(() => reject(new LeaseTimeoutError("lease create chain: deadline passed")), leftMs, { unref: true });
    p.then(
      (v) => {
        d.clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        d.clock.clearTimeout(timer);
        reject(e);
      },
    );
  });
}
