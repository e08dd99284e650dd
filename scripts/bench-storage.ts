// Storage benchmark (not a test): enqueue/s with N concurrent enqueuers of 1.5 KB payloads; ends with one JSON line.
// Usage: bun run scripts/bench-storage.ts [--driver sqlite|memory] [--total 200000] [--concurrency 64]
//        [--payload 1536] [--mailboxes 64] [--dir /path/for/db] [--max-batch 512]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryDriver, openSqliteDriver, type StorageDriver } from "../src/storage/index.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
function intArg(name: string, fallback: number, max: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isInteger(v) || v <= 0 || v > max) throw new Error(`--${name} must be an integer in 1..${max}`);
  return v;
}

const driverName = arg("driver", "sqlite");
const total = intArg("total", 200_000, 10_000_000);
const concurrency = intArg("concurrency", 64, 10_000);
const payloadBytes = intArg("payload", 1536, 1 << 20);
const mailboxes = intArg("mailboxes", 64, 1_000_000);
const maxBatch = intArg("max-batch", 512, 10_000);
const dir = mkdtempSync(join(arg("dir", tmpdir()), "haven-bench-"));

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
    const r = await driver.messages.enqueue(
      {
        id: `m${n}`,
        mailbox: `did:bench:${n % mailboxes}`,
        recipientDid: `did:bench:${n % mailboxes}#key-1`,
        payload,
        receivedAtMs: n,
        expiresAtMs: null,
        dedupKey: `d${n}`,
      },
      quota,
    );
    if (r.status !== "stored") throw new Error(`unexpected ${r.status}`);
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, enqueuer));
const seconds = (performance.now() - t0) / 1000;
const stats = driver.stats?.();
await driver.close();
rmSync(dir, { recursive: true, force: true });

const enqueuesPerSec = Math.round(total / seconds);
console.log(`${driverName}: ${total} enqueues of ${payloadBytes} B, ${concurrency} concurrent, in ${seconds.toFixed(2)} s`);
console.log(
  JSON.stringify({
    bench: "storage-enqueue",
    driver: driverName,
    total,
    concurrency,
    payloadBytes,
    mailboxes,
    seconds: Number(seconds.toFixed(3)),
    enqueuesPerSec,
    commits: stats?.commits ?? null,
    avgBatch: stats ? Number((stats.ops / stats.commits).toFixed(1)) : null,
  }),
);
