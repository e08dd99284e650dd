// The traceparent a delivery event is queued with survives the SQLite queue, its DLQ and replay, an old database
// (migration), the JetStream queue and cluster DLQ (real nats-server) and old records; bad values are dropped, never fatal.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "@msgpack/msgpack";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { Dispatcher, DistributedBreaker, JetStreamEventQueue, SqliteEventQueue, type NewDeliveryEvent } from "../../src/delivery/index.ts";
import { decodeDeadLetter, decodeEvent, encodeEvent, idToken, type EventRecord } from "../../src/delivery/js-records.ts";
import { MAX_STORED_TRACEPARENT_CHARS, storedTraceparent } from "../../src/delivery/traceparent.ts";
import { tracingEnabled } from "../../src/observability/tracing.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startEndpointServer } from "../support/endpoint-server.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { connectNats, freshBucket } from "./helpers.ts";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TP2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
const BAD = ["", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, `ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`, `${TP}${"x".repeat(200)}`];
const FAR = Date.now() + 10 * 86_400_000;

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "haven-tp-"));
  dirs.push(d);
  return d;
}

function ev(id: string, over: Partial<NewDeliveryEvent> = {}): NewDeliveryEvent {
  return { id, kind: "webhook", mailbox: "did:example:m", partition: 1, url: "https://h.example/hook", body: new TextEncoder().encode(`{"id":"${id}"}`), contentType: "application/json", signingRef: "did:example:r", ...over };
}

let nats: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connectNats(nats.url);
});

afterAll(async () => {
  await nc?.close().catch(() => {});
  await nats?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("storedTraceparent", () => {
  test("keeps a valid W3C traceparent (canonical form), drops anything else as null", () => {
    expect(storedTraceparent(TP)).toBe(TP);
    expect(storedTraceparent(TP2)).toBe(TP2);
    // A future version with extra fields is valid per the spec; stored as the version-00 fields we use.
    expect(storedTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")).toBe(TP);
    for (const b of [...BAD, null, undefined, 42, {}, ["x"]]) expect(storedTraceparent(b)).toBeNull();
    expect(storedTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-${"a".repeat(MAX_STORED_TRACEPARENT_CHARS)}`)).toBeNull();
  });
});

describe("SqliteEventQueue traceparent", () => {
  test("round-trips through due, the DLQ and replay, and across reopen; a bad one is dropped, not an error", async () => {
    const path = join(tempDir(), "delivery.sqlite");
    const clock = new ManualClock();
    let q = new SqliteEventQueue({ path, clock });
    expect(await q.enqueue(ev("traced", { traceparent: TP }))).toBe(true);
    expect(await q.enqueue(ev("untraced"))).toBe(true);
    for (const [i, b] of BAD.entries()) expect(await q.enqueue(ev(`bad${i}`, { traceparent: b }))).toBe(true);
    const due = await q.due(clock.nowMs(), 100);
    const byId = new Map(due.map((e) => [e.id, e]));
    expect(byId.get("traced")!.traceparent).toBe(TP);
    expect(byId.get("untraced")!.traceparent ?? null).toBeNull();
    for (let i = 0; i < BAD.length; i++) expect(byId.get(`bad${i}`)!.traceparent ?? null).toBeNull();

    await q.deadLetter("traced", "permanent_http_410", 1);
    q.close();
    q = new SqliteEventQueue({ path, clock });
    const dead = (await q.list()).items.find((d) => d.id === "traced")!;
    expect(dead.traceparent).toBe(TP);
    expect(await q.replay(["traced"], clock.nowMs())).toBe(1);
    const back = (await q.due(clock.nowMs(), 100)).find((e) => e.id === "traced")!;
    expect(back.attempts).toBe(0);
    expect(back.traceparent).toBe(TP);
    q.close();
  });

  test("a database from before the column: migrated in place, old rows load without it, new rows keep theirs", async () => {
    const path = join(tempDir(), "delivery.sqlite");
    // The schema as first released (no traceparent column), with one pending event and one dead letter.
    const cols = `id TEXT NOT NULL, kind TEXT NOT NULL, mailbox TEXT NOT NULL, partition INTEGER NOT NULL, url TEXT NOT NULL, destination TEXT NOT NULL,
      body BLOB NOT NULL, content_type TEXT NOT NULL, signing_ref TEXT, attempts INTEGER NOT NULL, next_at_ms INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, last_error TEXT`;
    const old = new Database(path, { create: true });
    old.run("PRAGMA journal_mode = WAL");
    old.run(`CREATE TABLE events (${cols}, PRIMARY KEY (id))`);
    old.run(`CREATE TABLE dlq (seq INTEGER PRIMARY KEY AUTOINCREMENT, ${cols}, reason TEXT NOT NULL, dead_at_ms INTEGER NOT NULL)`);
    old.run("CREATE TABLE delivered (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID");
    const body = new TextEncoder().encode("{}");
    old.query("INSERT INTO events VALUES ('old-pending', 'webhook', 'did:example:m', 1, 'https://h.example/hook', 'https://h.example:443', ?, 'application/json', 'did:example:r', 2, 5, 1, 'http_503')").run(body);
    old.query("INSERT INTO dlq (id, kind, mailbox, partition, url, destination, body, content_type, signing_ref, attempts, next_at_ms, created_at_ms, last_error, reason, dead_at_ms) VALUES ('old-dead', 'reply', 'did:example:m', 2, 'https://h.example/r', 'https://h.example:443', ?, 'application/json', NULL, 3, 5, 1, NULL, 'attempts_exhausted_http_503', 9)").run(body);
    old.close();

    const clock = new ManualClock();
    const q = new SqliteEventQueue({ path, clock });
    const pending = await q.due(FAR, 10);
    expect(pending.map((e) => [e.id, e.attempts, e.lastError, e.traceparent ?? null])).toEqual([["old-pending", 2, "http_503", null]]);
    const dead = (await q.list()).items;
    expect(dead.map((d) => [d.id, d.reason, d.traceparent ?? null])).toEqual([["old-dead", "attempts_exhausted_http_503", null]]);
    expect(await q.replay("all", clock.nowMs())).toBe(1);
    expect(await q.enqueue(ev("new", { traceparent: TP2 }))).toBe(true);
    const all = new Map((await q.due(FAR, 10)).map((e) => [e.id, e.traceparent ?? null]));
    expect(all).toEqual(new Map([["old-pending", null], ["old-dead", null], ["new", TP2]]));
    q.close();
    // Opening again does not migrate twice (and the file stays usable).
    const again = new SqliteEventQueue({ path, clock });
    expect(await again.size()).toBe(3);
    again.close();
  });

  test("a row edited to hold a bad traceparent loads without it", async () => {
    const path = join(tempDir(), "delivery.sqlite");
    const q = new SqliteEventQueue({ path });
    await q.enqueue(ev("e", { traceparent: TP }));
    q.close();
    const db = new Database(path);
    db.run("UPDATE events SET traceparent = 'not-a-traceparent' WHERE id = 'e'");
    db.close();
    const q2 = new SqliteEventQueue({ path });
    const [e] = await q2.due(FAR, 10);
    expect(e!.id).toBe("e");
    expect(e!.traceparent ?? null).toBeNull();
    q2.close();
  });
});

describe("JetStream records traceparent", () => {
  const rec: EventRecord = { id: "r1", kind: "webhook", mailbox: "did:example:m", partition: 1, url: "https://h.example/hook", body: new Uint8Array([1]), contentType: "application/json", signingRef: null, notBeforeMs: 1, createdAtMs: 1, replay: false };

  test("encoded only when valid; old records (without it) and bad values decode, without it", () => {
    expect(decodeEvent(encodeEvent({ ...rec, traceparent: TP }), 1 << 20).traceparent).toBe(TP);
    const plain = decodeEvent(encodeEvent(rec), 1 << 20);
    expect("traceparent" in plain).toBe(false);
    const legacy = encode({ v: 1, ...rec }); // exactly what the previous release wrote
    expect(decodeEvent(legacy, 1 << 20)).toEqual(rec);
    for (const b of [...BAD, 7, { x: 1 }]) expect(decodeEvent(encode({ v: 1, ...rec, traceparent: b }), 1 << 20).traceparent).toBeUndefined();
    const dead = { ...rec, destination: "https://h.example:443", attempts: 1, nextAtMs: 1, lastError: null, reason: "x", deadAtMs: 2 };
    expect(decodeDeadLetter(encode({ v: 1, ...dead }), 1 << 20).traceparent).toBeUndefined();
    expect(decodeDeadLetter(encode({ v: 1, ...dead, traceparent: TP }), 1 << 20).traceparent).toBe(TP);
    expect(decodeDeadLetter(encode({ v: 1, ...dead, traceparent: "00-zz" }), 1 << 20).traceparent).toBeUndefined();
  });
});

describe("JetStreamEventQueue traceparent (real nats-server)", () => {
  async function queue() {
    const names = { streamName: freshBucket("EV"), dlqStreamName: freshBucket("DLQ"), stateBucket: freshBucket("st"), subjectRoot: freshBucket("root"), replicas: 1, partitionCount: 8 };
    const q = new JetStreamEventQueue(nc, new SqliteEventQueue({ path: join(tempDir(), "outbox.sqlite") }), names);
    await q.start();
    return { q, names };
  }

  test("survives publish, partition load, the cluster DLQ and replay; records from before the field still load", async () => {
    const { q, names } = await queue();
    try {
      expect(await q.enqueue(ev("traced", { partition: 3, traceparent: TP }))).toBe(true);
      expect(await q.enqueue(ev("bad", { partition: 3, traceparent: "00-nope" }))).toBe(true);
      // Written as the previous release did: no traceparent key at all, and a dead letter likewise.
      const js = jetstream(nc);
      const legacy = { v: 1, id: "legacy", kind: "webhook", mailbox: "did:example:m", partition: 3, url: "https://h.example/hook", body: new Uint8Array([1]), contentType: "application/json", signingRef: null, notBeforeMs: 0, createdAtMs: 1, replay: false };
      await js.publish(`${names.subjectRoot}.events.3`, encode(legacy), { msgID: "legacy" });
      const legacyDead = { ...legacy, id: "legacy-dead", destination: "https://h.example:443", attempts: 4, nextAtMs: 0, lastError: "http_503", reason: "attempts_exhausted_http_503", deadAtMs: 2 };
      await js.publish(`${names.subjectRoot}.dlq.${idToken("legacy-dead")}`, encode(legacyDead));

      const due = new Map((await q.due(FAR, 10, { partitions: new Set([3]) })).map((e) => [e.id, e.traceparent ?? null]));
      expect(due).toEqual(new Map([["traced", TP], ["bad", null], ["legacy", null]]));

      await q.deadLetter("traced", "permanent_http_410", 1);
      const dlq = new Map((await q.list()).items.map((d) => [d.id, d.traceparent ?? null]));
      expect(dlq).toEqual(new Map([["traced", TP], ["legacy-dead", null]]));
      expect(await q.replay("all", Date.now())).toBe(2);
      const ids = async () => new Set((await q.due(FAR, 10, { partitions: new Set([3]) })).map((e) => e.id));
      await waitFor(async () => {
        const now = await ids();
        return now.has("traced") && now.has("legacy-dead");
      });
      const after = new Map((await q.due(FAR, 10, { partitions: new Set([3]) })).map((e) => [e.id, [e.attempts, e.traceparent ?? null]]));
      expect(after.get("traced")).toEqual([0, TP]);
      expect(after.get("legacy-dead")).toEqual([0, null]);
    } finally {
      await q.close();
    }
  }, 60_000);
});

describe("Dispatcher with tracing off", () => {
  test("a traced event goes out without a traceparent header (tracing is off in this process)", async () => {
    expect(tracingEnabled()).toBe(false);
    const endpoint = startEndpointServer({ kind: "succeed" });
    const queue = new SqliteEventQueue({ path: join(tempDir(), "delivery.sqlite") });
    try {
      const breaker = new DistributedBreaker({ nodeId: "n1", failureThreshold: 5, openMs: 60_000 });
      const dispatcher = new Dispatcher({ queue, breaker, callTimeoutMs: 5000 });
      await queue.enqueue(ev("e", { kind: "reply", url: `${endpoint.url}/r`, signingRef: null, traceparent: TP }));
      expect(await dispatcher.runOnce()).toBe(1);
      expect(endpoint.requests.length).toBe(1);
      expect(endpoint.requests[0]!.headers.traceparent).toBeUndefined();
      expect(endpoint.requests[0]!.idempotencyKey).toBe("e");
      expect(await queue.size()).toBe(0);
    } finally {
      queue.close();
      await endpoint.stop();
    }
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(25);
  }
}
