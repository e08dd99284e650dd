// Runs one seeded simulation end to end: cluster, workload, fault schedule, healing, draining, checkers; returns figures and violations.
import { Agent } from "../support/agent.ts";
import { startEndpointServer, type EndpointServer } from "../support/endpoint-server.ts";
import { checkAll, type Violation } from "./checkers.ts";
import { allShared, breakerSettled, pollViews } from "./breaker-view.ts";
import { adminCall, SIM_BREAKER_FAILURE_THRESHOLD, SIM_WEBHOOK_SECRET, startSimCluster, statusOf, type SimCluster } from "./cluster.ts";
import { runSchedule, type FaultLogEntry } from "./faults.ts";
import { emptyHistory, nowMs, type History } from "./history.ts";
import { describeSchedule, generateSchedule, nodeIdOf, resolveOptions, workloadRandom, type FaultEvent, type SimOptions } from "./schedule.ts";
import { confirmOnce, enrolRecipient, forwardOnce, liveHolder, pickupOnce, type SimRecipient, type SimTarget } from "./workload.ts";

export interface SimFigures {
  seed: number;
  forwards: number;
  acked: number;
  refused: Record<string, number>;
  deliveredPickup: number;
  deliveredLive: number;
  confirmationsOk: number;
  confirmationsFailed: number;
  ownershipSamples: number;
  faults: number;
  /** Process starts that failed during a supervised restart (the supervisor retried them). */
  failedStarts: number;
  settleMs: number;
  /**
   * From the moment the last fault was healed and the load stopped until ownership settled, every 202 was picked up
   * and the mailboxes were empty (or the drain gave up).
   */
  recoveryMs: number;
  totalMs: number;
  /** Webhook figures (reported, not judged): 2xx answers, distinct event ids, ids answered 2xx more than once. */
  webhook?: { requests: number; successes: number; events: number; eventsDeliveredTwice: number; maxSuccessesPerEvent: number; successesAfterLastHeal: number; firstSuccessAfterHealMs: number | null };
  /** Breaker after healing (webhook runs): time to settle, phase seen, transitions to open counted by live processes. */
  breaker?: { settleMs: number; settled: boolean; phase: string | null; transitionsToOpen: number; endpointNotOk: number };
}

export interface SimResult {
  options: SimOptions;
  schedule: FaultEvent[];
  faultLog: FaultLogEntry[];
  history: History;
  violations: Violation[];
  figures: SimFigures;
  /** Things that did not go as planned but are not checker verdicts (settle timed out, drain gave up). */
  notes: string[];
}

export interface RunHooks {
  log?: (line: string) => void;
  /** Called after set-up, before the faults; may replace the schedule's effect with its own (cascade scenario). */
  faults?: (ctx: SimContext) => Promise<FaultLogEntry[]>;
}

export interface SimContext {
  cluster: SimCluster;
  recipients: SimRecipient[];
  targets: SimTarget[];
  endpoint: EndpointServer | undefined;
  history: History;
  log: (line: string) => void;
}

const SAMPLE_INTERVAL_MS = 50;
/** Bounds of the breaker's settling after healing: back to shared mode everywhere, then closed and agreed on. */
const BREAKER_SHARED_TIMEOUT_MS = 15_000;
const BREAKER_CLOSE_TIMEOUT_MS = 20_000;

/** Polls every live node's /cluster/status and records the partitions it serves (the ownership history). */
function startSampler(c: SimCluster, h: History): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        c.nodes
          .filter((n) => n.proc.alive())
          .map(async (n) => {
            const sentAtMs = nowMs();
            try {
              const s = await statusOf(n, 1_500);
              const recvAtMs = nowMs();
              for (const o of s.owned) if (o.serving) h.ownership.push({ node: n.id, partition: o.partition, epoch: o.epoch, sentAtMs, recvAtMs });
            } catch {
              // killed or paused: no observation
            }
          }),
      );
      await Bun.sleep(SAMPLE_INTERVAL_MS); // sampling interval: the sampler observes, nothing waits on it
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** True when every node answers, all agree on the live set, and each partition is served exactly once. */
async function settled(c: SimCluster): Promise<boolean> {
  const ids = c.nodes.map((n) => n.id).sort();
  const statuses = await Promise.all(c.nodes.map((n) => statusOf(n)));
  const served = new Map<number, number>();
  for (const s of statuses) {
    if (JSON.stringify([...s.live].sort()) !== JSON.stringify(ids)) return false;
    for (const o of s.owned) if (o.serving) served.set(o.partition, (served.get(o.partition) ?? 0) + 1);
  }
  return served.size === c.partitions && [...served.values()].every((n) => n === 1);
}

/** What the nodes report when they did not settle: live sets, served partitions, doubly served and unserved ones. */
async function diagnose(c: SimCluster): Promise<string> {
  const served = new Map<number, string[]>();
  const parts: string[] = [];
  for (const n of c.nodes) {
    try {
      const s = await statusOf(n);
      const mine = s.owned.filter((o) => o.serving).map((o) => o.partition);
      for (const p of mine) served.set(p, [...(served.get(p) ?? []), n.id]);
      parts.push(`${n.id}: state=${s.state} live=[${s.live.join(",")}] serving=[${mine.join(",")}] held-not-serving=[${s.owned.filter((o) => !o.serving).map((o) => o.partition).join(",")}]`);
    } catch (e) {
      parts.push(`${n.id}: no answer (${String(e).slice(0, 100)})`);
    }
  }
  const unserved = Array.from({ length: c.partitions }, (_, p) => p).filter((p) => !served.has(p));
  const doubled = [...served].filter(([, o]) => o.length > 1).map(([p, o]) => `p${p}:${o.join("+")}`);
  return `${parts.join("; ")}; unserved=[${unserved.join(",")}] doubled=[${doubled.join(",")}]`;
}

async function poll(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return true;
    } catch {
      // a node not answering yet
    }
    await Bun.sleep(100);
  }
  return false;
}

/**
 * Picks up and confirms everything for every recipient through rotating nodes, until each recipient has seen all
 * its acknowledged messages and a round brings nothing new, or the deadline passes. Returns false on the deadline.
 */
async function drain(h: History, recipients: SimRecipient[], targets: SimTarget[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let rot = 0;
  for (const r of recipients) {
    const acked = new Set(h.forwards.filter((f) => f.recipient === r.label && f.status === 202).map((f) => f.msgId));
    const seen = new Set<string>();
    let quietRounds = 0;
    for (;;) {
      if (Date.now() > deadline) return false;
      for (const d of h.deliveries) if (d.recipient === r.label && d.kind === "pickup") seen.add(d.msgId);
      const via = targets[rot++ % targets.length]!;
      const before = seen.size;
      const got = await pickupOnce(h, via, r, 100);
      if (got === null) {
        await Bun.sleep(100); // refused (node still recovering): retry on the next node
        continue;
      }
      for (const g of got) seen.add(g.msgId);
      if (got.length > 0) await confirmOnce(h, targets[rot++ % targets.length]!, r, got);
      const allSeen = [...acked].every((id) => seen.has(id));
      quietRounds = seen.size === before ? quietRounds + 1 : 0;
      // Done when everything acknowledged was seen and the mailbox is empty, or nothing new arrives twice in a row
      // (e.g. confirmed messages keep coming back: the checker judges that, the drain must not loop on it).
      if (allSeen && (got.length === 0 || quietRounds >= 2)) break;
      if (!allSeen && got.length === 0) await Bun.sleep(200); // still relaying from an outbox: look again shortly
    }
  }
  return true;
}

/**
 * After healing and draining (webhook runs): waits (bounded) until every node is back in shared mode, forwards one
 * fresh message to a recipient with a webhook (its event is pending, so an open breaker gets its probe after
 * BREAKER_OPEN_MS and closes), waits (bounded) until the nodes agree on a closed record, records the views and the
 * endpoint's counts in the history for checker (e), and drains that message. Returns whether the breaker settled.
 */
async function settleBreaker(h: History, c: SimCluster, endpoint: EndpointServer, recipients: SimRecipient[], targets: SimTarget[], notes: string[], seed: number, drainTimeoutMs: number): Promise<boolean> {
  const shared = await pollViews(c, endpoint.url, allShared, BREAKER_SHARED_TIMEOUT_MS);
  if (!shared.ok) notes.push(`breaker: not every node back in shared mode within ${BREAKER_SHARED_TIMEOUT_MS} ms`);
  const r = recipients[0]!;
  const sender = new Agent();
  let status: number | "error" = "error";
  for (let i = 0; i < 5 && status !== 202; i++) {
    status = await forwardOnce(h, sender, targets[i % targets.length]!, r, `s${seed}-breaker-canary-${i}`);
    if (status !== 202) await Bun.sleep(200); // a sender's back-off after a refusal
  }
  if (status !== 202) notes.push("breaker: the post-heal forward was not accepted");
  const closed = await pollViews(c, endpoint.url, breakerSettled, BREAKER_CLOSE_TIMEOUT_MS);
  if (!closed.ok) notes.push(`breaker: not closed and agreed on within ${BREAKER_CLOSE_TIMEOUT_MS} ms`);
  const requests = endpoint.requests;
  h.breaker = {
    destination: endpoint.url,
    threshold: SIM_BREAKER_FAILURE_THRESHOLD,
    endpointRequests: requests.length,
    endpointNotOk: requests.filter((q) => !(typeof q.status === "number" && q.status >= 200 && q.status < 300)).length,
    views: closed.views,
  };
  if (!(await drain(h, [r], targets, drainTimeoutMs))) notes.push(`drain of the post-heal forward gave up after ${drainTimeoutMs} ms`);
  return closed.ok;
}

export async function runSimulation(partial: Partial<SimOptions> & { seed: number }, hooks: RunHooks = {}): Promise<SimResult> {
  const options = resolveOptions(partial.seed, partial);
  const log = hooks.log ?? ((line: string) => console.log(line));
  const schedule = hooks.faults ? [] : generateSchedule(options);
  log(`sim SEED=${options.seed} options=${JSON.stringify(options)}`);
  if (schedule.length > 0) log(`sim SEED=${options.seed} schedule:\n${describeSchedule(schedule)}`);
  const t0 = nowMs();
  const h = emptyHistory(Array.from({ length: options.nodes }, (_, i) => nodeIdOf(i)), options.partitions);
  const notes: string[] = [];
  const endpoint = options.webhooks ? startEndpointServer({ kind: "succeed" }) : undefined;
  const cluster = await startSimCluster({ nodes: options.nodes, partitions: options.partitions, seed: options.seed, ...(options.entry ? { entry: options.entry } : {}), ...(options.nodeEnv ? { env: options.nodeEnv } : {}) });
  let stopSampler: (() => Promise<void>) | undefined;
  // The workload's loops end when this turns false: also when a fault or a step throws, so nothing keeps running.
  let running = true;
  const workers: Promise<unknown>[] = [];
  try {
    // Ownership is sampled from the start: one owner per partition and epoch must hold while the nodes join, too.
    stopSampler = startSampler(cluster, h);
    if (!(await poll(() => settled(cluster), options.settleTimeoutMs))) {
      const why = `the cluster did not settle after start: ${await diagnose(cluster)}`;
      await stopSampler();
      stopSampler = undefined;
      // Two owners while the nodes joined is a checker verdict (a broken build), not a failure to start: report it.
      const owners = checkAll(h).filter((v) => v.checker === "singleOwnerPerEpoch");
      if (owners.length === 0) throw new Error(why);
      const figures: SimFigures = { seed: options.seed, forwards: 0, acked: 0, refused: {}, deliveredPickup: 0, deliveredLive: 0, confirmationsOk: 0, confirmationsFailed: 0, ownershipSamples: h.ownership.length, faults: 0, failedStarts: 0, settleMs: 0, recoveryMs: 0, totalMs: Math.round(nowMs() - t0) };
      const result: SimResult = { options, schedule, faultLog: [], history: h, violations: owners, figures, notes: [why] };
      log(failureReport(result));
      return result;
    }
    const targets: SimTarget[] = cluster.nodes.map((n) => ({ id: n.id, ref: n.ref }));
    const recipients: SimRecipient[] = [];
    for (let i = 0; i < options.recipients; i++) recipients.push(await enrolRecipient(targets[i % targets.length]!.ref, `r${i}`));
    if (endpoint) {
      for (const r of recipients) {
        const put = await adminCall(cluster.nodes[0]!, "PUT", "/admin/webhooks", { recipient_did: r.inbox.did, url: `${endpoint.url}/hook/${r.label}`, secret: SIM_WEBHOOK_SECRET });
        if (put.status !== 200) throw new Error(`PUT /admin/webhooks: ${put.status}`);
      }
    }

    // Workload.
    const sender = new Agent();
    const forwarders = Array.from({ length: options.forwardWorkers }, async (_, w) => {
      const rng = workloadRandom(options.seed, `forward-${w}`);
      for (let i = 0; running; i++) {
        const via = targets[rng.int(targets.length)]!;
        const r = recipients[rng.int(recipients.length)]!;
        const status = await forwardOnce(h, sender, via, r, `s${options.seed}-w${w}-${i}`);
        if (status !== 202) await Bun.sleep(100); // a sender's back-off after a refusal
      }
    });
    const pickers = Array.from({ length: options.pickupWorkers }, async (_, w) => {
      const rng = workloadRandom(options.seed, `pickup-${w}`);
      while (running) {
        const r = recipients[rng.int(recipients.length)]!;
        const got = await pickupOnce(h, targets[rng.int(targets.length)]!, r, 10);
        if (got && got.length > 0 && rng.next() < 0.8) await confirmOnce(h, targets[rng.int(targets.length)]!, r, got);
        await Bun.sleep(50 + rng.int(200)); // pacing of a polling client
      }
    });
    const holders = recipients.slice(0, options.liveRecipients).map((r) => liveHolder(h, r, () => targets, workloadRandom(options.seed, `live-${r.label}`), () => running));
    workers.push(...forwarders, ...pickers, ...holders.map((x) => x.done));

    const startMs = nowMs();
    const ctx: SimContext = { cluster, recipients, targets, endpoint, history: h, log };
    const faultLog = hooks.faults ? await hooks.faults(ctx) : await runSchedule(cluster, schedule, endpoint, startMs);
    const windowLeft = startMs + options.faultWindowMs - nowMs();
    if (windowLeft > 0) await Bun.sleep(windowLeft); // the workload runs for the whole window
    running = false;
    await Promise.all([...forwarders, ...pickers]);
    await Promise.all(holders.map((x) => x.stop()));
    // Recovery is counted from the later of "last fault healed" and "load stopped": from then on nothing changes.
    const lastHealMs = Math.max(startMs, ...faultLog.map((f) => f.healedAtMs));
    const quietFromMs = Math.max(lastHealMs, nowMs());

    // Heal is done: wait for convergence, record the final view, drain.
    const settleStart = nowMs();
    if (!(await poll(() => settled(cluster), options.settleTimeoutMs))) notes.push(`ownership did not settle within ${options.settleTimeoutMs} ms: ${await diagnose(cluster)}`);
    const settleMs = nowMs() - settleStart;
    for (const n of cluster.nodes) {
      try {
        const s = await statusOf(n);
        h.final.push({ node: n.id, live: [...s.live], owned: s.owned.map((o) => ({ partition: o.partition, epoch: o.epoch, serving: o.serving })) });
      } catch {
        h.final.push({ node: n.id, live: null, owned: [] });
      }
    }
    if (!(await drain(h, recipients, targets, options.drainTimeoutMs))) notes.push(`drain gave up after ${options.drainTimeoutMs} ms`);
    const recoveryMs = nowMs() - quietFromMs;
    let breakerSettleMs = 0;
    let breakerOk = true;
    if (endpoint) {
      const t = nowMs();
      breakerOk = await settleBreaker(h, cluster, endpoint, recipients, targets, notes, options.seed, options.drainTimeoutMs);
      breakerSettleMs = nowMs() - t;
    }
    // One last pickup per recipient after all confirmations: evidence for "nothing comes back after confirmation".
    for (const r of recipients) await pickupOnce(h, targets[0]!, r, 100);
    await stopSampler();
    stopSampler = undefined;

    const violations = checkAll(h);
    const refused: Record<string, number> = {};
    for (const f of h.forwards) {
      if (f.status === 202) continue;
      const key = f.problem !== undefined ? `${f.status}:${f.problem}` : String(f.status);
      refused[key] = (refused[key] ?? 0) + 1;
    }
    // A permanent refusal (4xx other than 429) of a well-formed forward to an enrolled recipient tells a real sender
    // to drop the message: not judged by the checkers (nothing was acknowledged), but reported.
    const permanent = h.forwards.filter((f) => typeof f.status === "number" && f.status >= 400 && f.status < 500 && f.status !== 429);
    if (permanent.length > 0) notes.push(`${permanent.length} forward(s) refused permanently: ${[...new Set(permanent.map((f) => `${f.status} ${f.problem ?? "?"} via ${f.via}`))].join(", ")}`);
    const figures: SimFigures = {
      seed: options.seed,
      forwards: h.forwards.length,
      acked: h.forwards.filter((f) => f.status === 202).length,
      refused,
      deliveredPickup: h.deliveries.filter((d) => d.kind === "pickup").length,
      deliveredLive: h.deliveries.filter((d) => d.kind === "live").length,
      confirmationsOk: h.confirmations.filter((c) => c.ok).length,
      confirmationsFailed: h.confirmations.filter((c) => !c.ok).length,
      ownershipSamples: h.ownership.length,
      faults: faultLog.length,
      failedStarts: faultLog.reduce((n, f) => n + (f.note?.startsWith("failed starts") ? f.note.split(" | ").length : 0), 0),
      settleMs: Math.round(settleMs),
      recoveryMs: Math.round(recoveryMs),
      totalMs: Math.round(nowMs() - t0),
    };
    if (endpoint) {
      const ok = endpoint.successes();
      const perEvent = new Map<string, number>();
      for (const q of ok) perEvent.set(q.idempotencyKey ?? "", (perEvent.get(q.idempotencyKey ?? "") ?? 0) + 1);
      // The endpoint stamps arrivals with Date.now(); nowMs() is the same wall clock at sub-millisecond precision.
      const after = ok.filter((q) => q.atMs >= lastHealMs).map((q) => q.atMs);
      figures.webhook = {
        requests: endpoint.requests.length,
        successes: ok.length,
        events: perEvent.size,
        eventsDeliveredTwice: [...perEvent.values()].filter((n) => n > 1).length,
        maxSuccessesPerEvent: Math.max(0, ...perEvent.values()),
        successesAfterLastHeal: after.length,
        firstSuccessAfterHealMs: after.length ? Math.round(Math.min(...after) - lastHealMs) : null,
      };
      const b = h.breaker;
      if (b !== undefined) {
        figures.breaker = {
          settleMs: Math.round(breakerSettleMs),
          settled: breakerOk,
          phase: b.views.find((v) => v.phase !== null)?.phase ?? null,
          transitionsToOpen: b.views.reduce((n, v) => n + (v.transitionsToOpen ?? 0), 0),
          endpointNotOk: b.endpointNotOk,
        };
      }
    }
    for (const f of faultLog) if (f.note) notes.push(`${f.kind} ${f.target}: ${f.note}`);
    const result: SimResult = { options, schedule, faultLog, history: h, violations, figures, notes };
    if (violations.length > 0) log(failureReport(result));
    else log(`sim SEED=${options.seed} passed ${JSON.stringify(figures)}${notes.length ? ` notes=${JSON.stringify(notes)}` : ""}`);
    return result;
  } finally {
    running = false;
    await Promise.allSettled(workers);
    if (stopSampler) await stopSampler();
    await cluster.stop();
    await endpoint?.stop();
  }
}

/** The command that replays these options (the test and script cover seed, nodes, webhooks and the window). */
function replayHint(o: SimOptions): string {
  const env = [`SEED=${o.seed}`, ...(o.nodes !== 3 ? [`SIM_NODES=${o.nodes}`] : []), ...(o.webhooks ? ["SIM_WEBHOOKS=1"] : [])].join(" ");
  const args = [`--seed-base ${o.seed} --seeds 1`, ...(o.nodes !== 3 ? [`--nodes ${o.nodes}`] : []), ...(o.webhooks ? ["--webhooks"] : []), `--window-ms ${o.faultWindowMs}`].join(" ");
  const custom = o.entry !== undefined || o.nodeEnv !== undefined ? " (plus the entry/nodeEnv options printed above: a planted-bug build)" : "";
  return `${env} bun test test/sim/sim.test.ts, or bun run sim -- ${args}${custom}`;
}

/** Everything needed to replay and understand a failing run: the seed, every option, the schedule, what happened. */
export function failureReport(r: SimResult): string {
  return [
    `sim FAILED SEED=${r.options.seed} (replay: ${replayHint(r.options)})`,
    `options=${JSON.stringify(r.options)}`,
    `schedule:\n${describeSchedule(r.schedule) || "  (none)"}`,
    `faults as run:\n${r.faultLog.map((f) => `  ${f.kind} ${f.target} ${Math.round(f.healedAtMs - f.startedAtMs)}ms${f.note ? ` (${f.note})` : ""}`).join("\n") || "  (none)"}`,
    `figures=${JSON.stringify(r.figures)}`,
    `notes=${JSON.stringify(r.notes)}`,
    `violations:\n${r.violations.map((v) => `  [${v.checker}] ${v.detail}`).join("\n")}`,
  ].join("\n");
}
