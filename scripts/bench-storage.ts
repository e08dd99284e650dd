// Storage benchmark (not a test): enqueue/s and CPU per enqueue with the node's real key shapes, then pickup timings.
// Usage: bun run scripts/bench-storage.ts [--driver sqlite|memory] [--total 200000] [--concurrency 64]
//        [--payload 4600] [--mailboxes 16] [--dir /path/for/db] [--max-batch 512]
//        [--did-chars 570] [--ids uuid4|uuid7|seq] [--dedup random|seq] [--pickup-rounds 1] [--seed N]
// Defaults mirror the node: ~570-char did:peer:2 mailbox and recipient DIDs, UUIDv7 message ids (routing.ts),
// dedup keys "sha256:" + 43 base64url chars. --did-chars 0 uses the old short names ("did:bench:N").
// After the enqueue phase, every mailbox is picked up the way a client does: stats, list 1000, remove those ids.
import { mkdtempSync, rmSync } from "node:fs";
import { Rng } from "../test/support/random.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryDriver, openSqliteDriver, type StorageDriver } from "../src/storage/index.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
function intArg(name: string, fallback: number, min: number, max: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
  return v;
}
function choiceArg<T extends string>(name: string, fallback: T, choices: readonly T[]): T {
  const v = arg(name, fallback);
  if (!(choices as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${choices.join("|")}`);
  return v as T;
}

const driverName = choiceArg("driver", "sqlite", ["sqlite", "memory"] as const);
const total = intArg("total", 200_000, 1, 10_000_000);
const concurrency = intArg("concurrency", 64, 1, 10_000);
const payloadBytes = intArg("payload", 4600, 1, 1 << 20);
const mailboxes = intArg("mailboxes", 16, 1, 1_000_000);
const maxBatch = intArg("max-batch", 512, 1, 10_000);
const didChars = intArg("did-chars", 570, 0, 4000);
const idKind = choiceArg("ids", "uuid7", ["uuid4", "uuid7", "seq"] as const);
const dedupKind = choiceArg("dedup", "random", ["random", "seq"] as const);
const pickupRounds = intArg("pickup-rounds", 1, 0, 1000);
const seed = intArg("seed", Date.now() % 1_000_000_007, 0, Number.MAX_SAFE_INTEGER);
const dir = mkdtempSync(join(arg("dir", tmpdir()), "haven-bench-"));

/** Uniform floats in [0, 1) from the tests' seeded PRNG: reproducible DIDs and dedup keys for a given --seed. */
function rng(s: number): () => number {
  const r = new Rng(BigInt(s));
  return () => r.u32() / 2 ** 32;
}
const rand = rng(seed);
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
function randomChars(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += B64URL[Math.floor(rand() * 64)]!;
  return s;
}
/** A did:peer:2-shaped DID of about `didChars` characters (or a short name when 0). */
function makeDid(label: string, n: number): string {
  if (didChars === 0) return `did:bench:${label}${n}`;
  const prefix = `did:peer:2.Ez6LS${label}${n}.`;
  return prefix + randomChars(Math.max(1, didChars - prefix.length));
}
const mailboxDids = Array.from({ length: mailboxes }, (_, i) => makeDid("m", i));
const recipientDids = Array.from({ length: mailboxes }, (_, i) => `${makeDid("r", i)}#key-1`);

function nextId(n: number): string {
  if (idKind === "uuid4") return crypto.randomUUID();
  if (idKind === "uuid7") return Bun.randomUUIDv7();
  return `m${n}`;
}
function nextDedup(n: number): string {
  return dedupKind === "random" ? `sha256:${randomChars(43)}` : `d${n}`;
}

const driver: StorageDriver & { stats?: () => { commits: number; ops: number } } =
  driverName === "memory"
    ? createMemoryDriver()
    : openSqliteDriver({ path: join(dir, "bench.db"), groupCommitMaxBatch: maxBatch });

const payload = new Uint8Array(payloadBytes).fill(0x7b);
const quota = { maxCount: total + 1, maxBytes: Number.MAX_SAFE_INTEGER };
let issued = 0;

async function enqueuer(): Promise<void> {
  while (issued < total) {
    const n = issued++;
    const m = n % mailboxes;
    const r = await driver.messages.enqueue(
      {
        id: nextId(n),
        mailbox: mailboxDids[m]!,
        recipientDid: recipientDids[m]!,
        payload,
        receivedAtMs: n,
        expiresAtMs: null,
        dedupKey: nextDedup(n),
      },
      quota,
    );
    if (r.status !== "stored") throw new Error(`unexpected ${r.status}`);
  }
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, enqueuer));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const stats = driver.stats?.();

/** Pickup timings in ms, summed over rounds and mailboxes, then averaged per call. */
const pickup = { stats: 0, list: 0, remove: 0, calls: 0, listed: 0, removed: 0 };
const pickupCpu0 = process.cpuUsage();
for (let round = 0; round < pickupRounds; round++) {
  for (const mailbox of mailboxDids) {
    let t = performance.now();
    await driver.messages.stats(mailbox);
    pickup.stats += performance.now() - t;
    t = performance.now();
    const listed = await driver.messages.list(mailbox, { limit: 1000 });
    pickup.list += performance.now() - t;
    t = performance.now();
    pickup.removed += await driver.messages.remove(mailbox, listed.map((m) => m.id));
    pickup.remove += performance.now() - t;
    pickup.listed += listed.length;
    pickup.calls += 1;
  }
}
const pickupCpu = process.cpuUsage(pickupCpu0);
await driver.close();
rmSync(dir, { recursive: true, force: true });
if (pickup.removed !== pickup.listed) throw new Error(`removed ${pickup.removed} of ${pickup.listed} listed`);

const enqueuesPerSec = Math.round(total / seconds);
const cpuUsPerEnqueue = Number(((cpu.user + cpu.system) / total).toFixed(1));
const perCall = (ms: number): number | null => (pickup.calls === 0 ? null : Number((ms / pickup.calls).toFixed(2)));
console.log(
  `${driverName}: ${total} enqueues of ${payloadBytes} B, ${concurrency} concurrent, did ${didChars} chars, ids ${idKind}, ` +
    `dedup ${dedupKind}: ${enqueuesPerSec}/s, ${cpuUsPerEnqueue} us CPU each (seed ${seed})`,
);
console.log(
  JSON.stringify({
    bench: "storage-enqueue",
    driver: driverName,
    total,
    concurrency,
    payloadBytes,
    mailboxes,
    didChars,
    ids: idKind,
    dedup: dedupKind,
    seed,
    seconds: Number(seconds.toFixed(3)),
    enqueuesPerSec,
    cpuUsPerEnqueue,
    commits: stats?.commits ?? null,
    avgBatch: stats ? Number((stats.ops / stats.commits).toFixed(1)) : null,
    pickup: {
      calls: pickup.calls,
      avgListed: pickup.calls === 0 ? null : Math.round(pickup.listed / pickup.calls),
      statsMs: perCall(pickup.stats),
      list1000Ms: perCall(pickup.list),
      remove1000Ms: perCall(pickup.remove),
      cpuUsPerPickedUp: pickup.removed === 0 ? null : Number(((pickupCpu.user + pickupCpu.system) / pickup.removed).toFixed(1)),
    },
  }),
);
