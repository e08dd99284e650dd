// In-process CPU cost per accepted forward: the node's wiring driven through app.handle(), minus bare unpackForward.
// Run: bun scripts/lib/forward-cpu.ts [--driver memory|sqlite] [--forwards 4000] [--rounds 5] [--concurrency 64]
//      [--unpack-workers N]
// CPU time (process.cpuUsage), not wall clock: on a shared 2-core machine it is the figure that survives A/B runs.
// The main thread's own CPU time (/proc/thread-self/schedstat) is reported too: with unpack workers it is the
// figure that bounds ingest, since the workers run on the other core.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createResolver } from "../../src/didcomm/did/index.ts";
import { generateIdentity, mintMediatorDid } from "../../src/didcomm/identity/index.ts";
import { unpackForward, type DidcommContext } from "../../src/didcomm/pack/index.ts";
import { createUnpackPool, type UnpackPool } from "../../src/didcomm/pool/index.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/index.ts";
import { MailboxActor } from "../../src/mailbox/index.ts";
import { createMediatorCore } from "../../src/mediator/index.ts";
import { prometheusDeliveryMetrics } from "../../src/node/delivery-metrics.ts";
import { startDeliveryMode } from "../../src/node/delivery-mode.ts";
import { createNodeMetrics, timedMailbox } from "../../src/node/metrics-wiring.ts";
import { createLogger } from "../../src/observability/index.ts";
import { systemClock } from "../../src/runtime/index.ts";
import { createMemoryDriver, openSqliteDriver, type StorageDriver } from "../../src/storage/index.ts";
import { createHealth } from "../../src/transport/health.ts";
import { createHttpApp } from "../../src/transport/http-app.ts";
import { makeInvitationInfo } from "../../src/transport/invitation.ts";
import { tracedReceiver } from "../../src/transport/traced-receiver.ts";
import { argValue, numberArg } from "./bench.ts";
import { BenchWorld, pool } from "./bench-party.ts";
import { round } from "./proc-stats.ts";

const ENCRYPTED = "application/didcomm-encrypted+json";

export interface ForwardCpuOptions {
  driver: "memory" | "sqlite";
  /** Distinct forwards per measured run. */
  forwards: number;
  /** Runs per phase (phases alternate, so drift from other load hits all of them alike). */
  rounds: number;
  concurrency: number;
  recipients: number;
  /** Phases to run (default all); e.g. only appHandle under a profiler. */
  only?: readonly string[];
  /** Unpack worker threads for the core (0 = in-thread, the node's default). */
  unpackWorkers?: number;
}

export interface ForwardCpuResult {
  /** Median CPU us per forward of each phase. */
  bareUnpackUs: number;
  coreReceiveUs: number;
  appHandleUs: number;
  /** appHandle minus bare unpack, paired per round: what this path costs beyond the crypto. */
  overheadUs: number;
  rounds: Record<string, number[]>;
  /** Main-thread CPU us per forward of each phase and round (empty where /proc is missing). */
  mainRounds: Record<string, number[]>;
}

const SCHEDSTAT = "/proc/thread-self/schedstat";
const hasSchedstat = existsSync(SCHEDSTAT);
/** This thread's CPU time in us (schedstat's first field is ns on CPU), or NaN without /proc. */
const threadCpuUs = (): number => (hasSchedstat ? Number(readFileSync(SCHEDSTAT, "utf8").split(" ")[0]) / 1000 : Number.NaN);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const median = (xs: readonly number[] | undefined): number => {
  const s = [...(xs ?? [])].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function measureForwardCpu(o: ForwardCpuOptions): Promise<ForwardCpuResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "haven-fwd-cpu-"));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: "0",
    PUBLIC_URL: "http://127.0.0.1:1",
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_CONNECTION: "100000",
    MAILBOX_MAX_MESSAGES: "10000000",
    MAILBOX_MAX_BYTES: "1024GiB",
  });
  const clock = systemClock;
  const logger = createLogger({ level: "warn", destination: { write: () => {} } });
  const nodeMetrics = createNodeMetrics({ config, logger, clock });
  const driver: StorageDriver = o.driver === "memory" ? createMemoryDriver() : openSqliteDriver({ path: join(dataDir, "haven.sqlite"), clock });
  const quota = { maxCount: config.limits.mailboxMaxMessages, maxBytes: config.limits.mailboxMaxBytes };
  const actor = new MailboxActor({ driver, clock, defaultQuota: quota, actors: { logger: logger.child({ module: "mailbox" }) } });
  const mailbox = timedMailbox(actor, nodeMetrics.metrics, "store");
  const delivery = await startDeliveryMode({ config, clock, logger, cluster: null, metrics: prometheusDeliveryMetrics(nodeMetrics.metrics, false), onDrain: () => {} });
  const minted = mintMediatorDid(generateIdentity(), { httpUri: config.server.publicUrl, wsUri: config.server.wsUrl });
  const secrets = new MemorySecrets(minted.keys);
  const unpackPool: UnpackPool | undefined =
    (o.unpackWorkers ?? 0) > 0
      ? createUnpackPool({ ctx: { resolver: createResolver(), secrets, maxEnvelopeBytes: config.limits.maxMessageBytes, now: () => clock.nowMs() }, keys: minted.keys, workers: o.unpackWorkers ?? 0 })
      : undefined;
  const core = createMediatorCore({
    ...(unpackPool !== undefined ? { unpackPool } : {}),
    mediatorDid: minted.did,
    resolver: createResolver(),
    secrets,
    storage: driver,
    mailbox,
    config,
    clock,
    logger,
    metrics: nodeMetrics.metrics,
    outbound: delivery.outbound,
    webhooks: delivery.webhooks,
  });
  const app = createHttpApp({ health: createHealth([], { clock }), config, logger, clock, routes: nodeMetrics.routes });
  const traced = tracedReceiver(core);
  app.attach({ core: traced, invitation: makeInvitationInfo({ did: minted.did, publicUrl: config.server.publicUrl }) });

  const world = new BenchWorld(config.server.publicUrl, minted.did);
  const recipients: string[] = [];
  for (let i = 0; i < o.recipients; i++) {
    const did = world.party().did;
    await driver.mediations.grant({ clientDid: did, routingDid: minted.did, grantedAtMs: clock.nowMs() });
    if ((await driver.mediations.addKey(did, did)) !== "success") throw new Error("invariant: keylist add failed");
    recipients.push(did);
  }
  const envelopes = async (n: number, tag: string): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) out.push(Buffer.from(await world.forwardFor(recipients[i % recipients.length]!, `${tag} ${i}`)));
    return out;
  };
  const unpackCtx: DidcommContext = { resolver: createResolver(), secrets, maxEnvelopeBytes: config.limits.maxMessageBytes };

  type Phase = (bodies: Uint8Array[]) => Promise<void>;
  const phases: Record<string, Phase> = {
    bareUnpack: (bodies) => pool(bodies.length, o.concurrency, async (i) => void (await unpackForward(bodies[i]!, unpackCtx))),
    rawCore: (bodies) =>
      pool(bodies.length, o.concurrency, async (i) => {
        const r = await core.receive(bodies[i]!, { kind: "http", receivedAtMs: clock.nowMs(), requestId: `r${i}` });
        if (r.kind !== "accepted") throw new Error(`forward ${i}: ${r.code}`);
      }),
    coreReceive: (bodies) =>
      pool(bodies.length, o.concurrency, async (i) => {
        const r = await traced.receive(bodies[i]!, { kind: "http", receivedAtMs: clock.nowMs(), requestId: `r${i}` });
        if (r.kind !== "accepted") throw new Error(`forward ${i}: ${r.code}`);
      }),
    appHandle: (bodies) =>
      pool(bodies.length, o.concurrency, async (i) => {
        const res = await app.handle(new Request("http://127.0.0.1/", {
          method: "POST",
          // As wrk sends it: a declared length takes the body reader's fast path.
          headers: { "content-type": ENCRYPTED, "content-length": String(bodies[i]!.byteLength) },
          body: bodies[i]!,
        }));
        if (res.status !== 202) throw new Error(`forward ${i}: HTTP ${res.status} ${await res.text()}`);
      }),
  };
  for (const name of Object.keys(phases)) if (o.only !== undefined && !o.only.includes(name)) delete phases[name];
  const rounds: Record<string, number[]> = Object.fromEntries(Object.keys(phases).map((k) => [k, []]));
  const mainRounds: Record<string, number[]> = Object.fromEntries(Object.keys(phases).map((k) => [k, []]));
  try {
    // Warm-up: JIT, caches (webhook lookups, DID parsing), actors started.
    for (const [name, p] of Object.entries(phases)) await p(await envelopes(Math.min(1000, o.forwards), `warm ${name}`));
    for (let r = 0; r < o.rounds; r++) {
      // This round's envelopes first (outside the measured windows), then the phases back to back.
      const batch = new Map<string, Uint8Array[]>();
      for (const name of Object.keys(phases)) batch.set(name, await envelopes(o.forwards, `${name} ${r}`));
      for (const [name, p] of Object.entries(phases)) {
        const bodies = batch.get(name)!;
        Bun.gc(true);
        const t0 = cpuUs();
        const m0 = threadCpuUs();
        await p(bodies);
        rounds[name]!.push((cpuUs() - t0) / bodies.length);
        if (hasSchedstat) mainRounds[name]!.push((threadCpuUs() - m0) / bodies.length);
      }
    }
  } finally {
    await app.close({ drainTimeoutMs: 1000 });
    await delivery.stop();
    await unpackPool?.close();
    await actor.stop({ drain: true });
    await driver.close();
    await nodeMetrics.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const bareUnpackUs = median(rounds.bareUnpack);
  const appHandleUs = median(rounds.appHandle);
  // Paired per round (the same machine load), then the median: steadier than a difference of medians.
  const overheadUs = median(rounds.appHandle?.map((x, i) => x - (rounds.bareUnpack?.[i] ?? Number.NaN)));
  return { bareUnpackUs, coreReceiveUs: median(rounds.coreReceive), appHandleUs, overheadUs, rounds, mainRounds };
}

if (import.meta.main) {
  const driver = argValue("driver", "memory");
  if (driver !== "memory" && driver !== "sqlite") throw new Error("--driver must be memory|sqlite");
  const r = await measureForwardCpu({
    driver,
    forwards: numberArg("forwards", 4000, 100, 100_000),
    rounds: numberArg("rounds", 5, 1, 50),
    concurrency: numberArg("concurrency", 64, 1, 1024),
    recipients: numberArg("recipients", 16, 1, 1000),
    ...(process.argv.includes("--only") ? { only: argValue("only", "").split(",") } : {}),
    unpackWorkers: numberArg("unpack-workers", 0, 0, 8),
  });
  const fmt = (xs: number[] | undefined) => (xs ?? []).map((x) => round(x)).join(" ");
  const line = (label: string, name: string) =>
    console.log(`  ${label} ${round(median(r.rounds[name]))}   [${fmt(r.rounds[name])}]   main thread ${round(median(r.mainRounds[name]))}   [${fmt(r.mainRounds[name])}]`);
  console.log(`CPU us per forward (median of the runs, driver ${driver}, unpack workers ${numberArg("unpack-workers", 0, 0, 8)}):`);
  line("bare unpackForward", "bareUnpack");
  line("core (untraced)   ", "rawCore");
  line("traced core       ", "coreReceive");
  line("app.handle POST / ", "appHandle");
  console.log(`  overhead (handle - unpack) ${round(r.overheadUs)} us`);
  console.log(
    JSON.stringify({
      bench: "forward-cpu", driver, bare_unpack_us: round(r.bareUnpackUs), core_receive_us: round(r.coreReceiveUs), app_handle_us: round(r.appHandleUs),
      overhead_us: round(r.overheadUs), app_handle_main_us: round(median(r.mainRounds.appHandle)),
    }),
  );
}
