// Model-based random test for MessageStore: concurrent write groups checked against a plain in-test model.
import { expect } from "bun:test";
import { StorageError } from "../../src/storage/errors.ts";
import type { EnqueueRequest, EnqueueResult, MailboxStats, Quota, StorageDriver, StoredMessage } from "../../src/storage/types.ts";
import { Rng, seedFromEnv } from "../support/random.ts";

interface ModelMsg extends StoredMessage {
  dedupKey: string;
  seq: number;
}

/** Deliberately naive: arrays and filters, no indexes, so it is easy to trust. */
class Model {
  msgs: ModelMsg[] = [];
  private seq = 0;

  enqueue(r: EnqueueRequest, q: Quota): EnqueueResult | "conflict" {
    const box = this.msgs.filter((m) => m.mailbox === r.mailbox);
    const dup = box.find((m) => m.dedupKey === r.dedupKey);
    if (dup) return { status: "duplicate", id: dup.id };
    if (box.length + 1 > q.maxCount) return { status: "quota_exceeded", limit: "count" };
    if (box.reduce((n, m) => n + m.sizeBytes, 0) + r.payload.byteLength > q.maxBytes) {
      return { status: "quota_exceeded", limit: "bytes" };
    }
    if (this.msgs.some((m) => m.id === r.id)) return "conflict";
    const { dedupKey, ...rest } = r;
    this.msgs.push({ ...rest, payload: r.payload.slice(), sizeBytes: r.payload.byteLength, dedupKey, seq: this.seq++ });
    return { status: "stored", id: r.id };
  }

  private select(mailbox: string, recipientDid?: string): ModelMsg[] {
    return this.msgs
      .filter((m) => m.mailbox === mailbox && (recipientDid === undefined || m.recipientDid === recipientDid))
      .sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.seq - b.seq);
  }

  list(mailbox: string, limit: number, recipientDid?: string): StoredMessage[] {
    return this.select(mailbox, recipientDid)
      .slice(0, limit)
      .map(({ dedupKey: _d, seq: _s, ...m }) => m);
  }

  stats(mailbox: string, recipientDid?: string): MailboxStats {
    const sel = this.select(mailbox, recipientDid);
    return {
      count: sel.length,
      totalBytes: sel.reduce((n, m) => n + m.sizeBytes, 0),
      oldestReceivedAtMs: sel[0]?.receivedAtMs ?? null,
      newestReceivedAtMs: sel[sel.length - 1]?.receivedAtMs ?? null,
    };
  }

  remove(mailbox: string, ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      const i = this.msgs.findIndex((m) => m.id === id && m.mailbox === mailbox);
      if (i >= 0) {
        this.msgs.splice(i, 1);
        n += 1;
      }
    }
    return n;
  }

  expire(nowMs: number, limit: number): number {
    const due = this.msgs
      .filter((m) => m.expiresAtMs !== null && m.expiresAtMs <= nowMs)
      .sort((a, b) => a.expiresAtMs! - b.expiresAtMs! || a.seq - b.seq)
      .slice(0, limit);
    this.msgs = this.msgs.filter((m) => !due.includes(m));
    return due.length;
  }
}

const MAILBOXES = ["did:m:a", "did:m:b", "did:m:c"];
const RECIPIENTS = ["did:r:1", "did:r:2"];
const QUOTA: Quota = { maxCount: 6, maxBytes: 160 };

type Expect = { kind: "value"; value: unknown } | { kind: "conflict" };

export async function messageModelTest(d: StorageDriver, rounds = 150): Promise<void> {
  const seed = seedFromEnv();
  console.log(`storage model test (${d.name}) SEED=${seed}`);
  const rng = new Rng(seed);
  const model = new Model();
  let nextId = 0;
  let clock = 0;
  const everIds: string[] = [];

  for (let round = 0; round < rounds; round++) {
    clock += rng.int(5);
    // A group of writes issued without awaiting: one group commit, applied in issue order.
    const calls: Promise<unknown>[] = [];
    const expected: Expect[] = [];
    const groupSize = 1 + rng.int(8);
    for (let k = 0; k < groupSize; k++) {
      const dice = rng.int(10);
      if (dice < 6) {
        // Occasionally reuse an id ever used (stored or removed) to hit the conflict path and id reuse.
        const id = everIds.length > 0 && rng.bool(0.1) ? rng.pick(everIds) : `id-${nextId++}`;
        everIds.push(id);
        const r: EnqueueRequest = {
          id,
          mailbox: rng.pick(MAILBOXES),
          recipientDid: rng.pick(RECIPIENTS),
          payload: rng.bytes(rng.int(48)),
          receivedAtMs: clock + rng.int(3), // small spread: many equal timestamps exercise the tie-break
          expiresAtMs: rng.bool(0.5) ? null : clock + rng.int(40),
          dedupKey: `dk-${rng.int(12)}`,
        };
        const m = model.enqueue(r, QUOTA);
        expected.push(m === "conflict" ? { kind: "conflict" } : { kind: "value", value: m });
        calls.push(d.messages.enqueue(r, QUOTA));
      } else if (dice < 8) {
        const mailbox = rng.pick(MAILBOXES);
        const pool = [...model.msgs.map((m) => m.id), "missing"];
        const ids = Array.from({ length: rng.int(4) }, () => rng.pick(pool));
        expected.push({ kind: "value", value: model.remove(mailbox, ids) });
        calls.push(d.messages.remove(mailbox, ids));
      } else {
        const limit = 1 + rng.int(3);
        expected.push({ kind: "value", value: model.expire(clock, limit) });
        calls.push(d.messages.expire(clock, limit));
      }
    }
    const settled = await Promise.allSettled(calls);
    settled.forEach((s, i) => {
      const exp = expected[i]!;
      const where = `round ${round} call ${i} (SEED=${seed})`;
      if (exp.kind === "conflict") {
        expect(s.status, where).toBe("rejected");
        const reason = (s as PromiseRejectedResult).reason;
        expect(reason instanceof StorageError && reason.code === "conflict", where).toBe(true);
      } else {
        expect(s, where).toEqual({ status: "fulfilled", value: exp.value });
      }
    });
    // Reads after the group settled: every mailbox, whole and per recipient.
    for (const mb of MAILBOXES) {
      const limit = 1 + rng.int(8);
      const rcp = rng.bool(0.5) ? rng.pick(RECIPIENTS) : undefined;
      const opts = rcp === undefined ? { limit } : { limit, recipientDid: rcp };
      expect(await d.messages.list(mb, opts), `list round ${round} (SEED=${seed})`).toEqual(model.list(mb, limit, rcp));
      expect(await d.messages.stats(mb), `stats round ${round} (SEED=${seed})`).toEqual(model.stats(mb));
      expect(await d.messages.stats(mb, rcp)).toEqual(model.stats(mb, rcp));
    }
  }
}
