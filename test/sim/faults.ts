// Applies a fault schedule to a SimCluster: each lane runs its faults in order, each fault is healed before the next starts.
import type { EndpointServer } from "../support/endpoint-server.ts";
import type { SimCluster, SimNode } from "./cluster.ts";
import type { FaultEvent } from "./schedule.ts";
import { nowMs } from "./history.ts";

export interface FaultLogEntry {
  kind: string;
  target: string;
  startedAtMs: number;
  healedAtMs: number;
  note?: string;
}

export class FaultError extends Error {
  override name = "FaultError";
}

/** Start attempts a supervisor makes (the deployment restarts crashed processes: compose `restart: unless-stopped`). */
const SUPERVISOR_ATTEMPTS = 6;

/**
 * Restarts like a process supervisor: a start that fails (the process exits before it is ready) is retried with a
 * growing back-off. Each failed attempt is returned (first line of its reason): a finding worth reporting.
 */
export async function superviseRestart(start: () => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      return failures;
    } catch (e) {
      const text = String(e);
      const reason = /haven: [^\n]*/.exec(text)?.[0] ?? text.split("\n")[0]!;
      failures.push(reason.slice(0, 200));
      if (attempt >= SUPERVISOR_ATTEMPTS) throw new FaultError(`restart failed ${attempt} times: ${failures.join(" | ")}`);
      await Bun.sleep(500 * attempt); // supervisor back-off
    }
  }
}

function node(c: SimCluster, id: string): SimNode {
  const n = c.nodes.find((x) => x.id === id);
  if (n === undefined) throw new FaultError(`no node ${id}`);
  return n;
}

/** Injects one fault, holds it for its duration, heals it. Returns when healed (a killed node is ready again). */
export async function runFault(c: SimCluster, ev: FaultEvent, endpoint: EndpointServer | undefined): Promise<FaultLogEntry> {
  const startedAtMs = nowMs();
  const hold = () => Bun.sleep(ev.durationMs); // the fault's scheduled length: the schedule, not a wait for an event
  let note: string | undefined;
  switch (ev.kind) {
    case "kill": {
      const n = node(c, ev.target);
      await n.proc.kill("SIGKILL");
      await hold();
      const failed = await superviseRestart(() => n.proc.restart());
      if (failed.length) note = `failed starts before success: ${failed.join(" | ")}`;
      break;
    }
    case "pause": {
      const n = node(c, ev.target);
      process.kill(n.proc.pid, "SIGSTOP");
      try {
        await hold();
      } finally {
        process.kill(n.proc.pid, "SIGCONT");
      }
      break;
    }
    case "partition": {
      const n = node(c, ev.target);
      for (const p of n.proxies) ev.params.mode === "cut" ? p.cut() : p.blackhole();
      await hold();
      for (const p of n.proxies) p.pass();
      break;
    }
    case "oneWay": {
      const n = node(c, ev.target);
      const dir = ev.params.direction === "down" ? "down" : "up";
      for (const p of n.proxies) p.oneWay(dir);
      await hold();
      for (const p of n.proxies) p.pass();
      break;
    }
    case "latency": {
      const n = node(c, ev.target);
      for (const p of n.proxies) p.delay(Number(ev.params.delayMs), Number(ev.params.jitterMs));
      await hold();
      for (const p of n.proxies) p.pass();
      break;
    }
    case "reset": {
      const n = node(c, ev.target);
      const resets = Number(ev.params.resets);
      for (let i = 0; i < resets; i++) {
        for (const p of n.proxies) p.reset();
        await Bun.sleep(ev.durationMs / resets); // spacing of the scheduled resets
      }
      break;
    }
    case "natsKill": {
      const s = c.nats.servers.find((x) => x.name === ev.target);
      if (s === undefined) throw new FaultError(`no NATS server ${ev.target}`);
      await s.kill("SIGKILL");
      await hold();
      const failed = await superviseRestart(() => s.restart({ timeoutMs: 30_000 }));
      if (failed.length) note = `failed starts before success: ${failed.join(" | ")}`;
      break;
    }
    case "endpointFail":
    case "endpointHang": {
      if (endpoint === undefined) {
        note = "no endpoint: skipped";
        break;
      }
      endpoint.setMode(ev.kind === "endpointFail" ? { kind: "fail", status: 503 } : { kind: "hang" });
      await hold();
      endpoint.setMode({ kind: "succeed" });
      endpoint.releaseHung(503);
      break;
    }
  }
  return { kind: ev.kind, target: ev.target, startedAtMs, healedAtMs: nowMs(), ...(note ? { note } : {}) };
}

/**
 * Runs the schedule: faults of one lane (node / NATS / endpoint) strictly one after another, not before their
 * `atMs`; lanes in parallel. Resolves with the log once everything is healed.
 */
export async function runSchedule(c: SimCluster, events: readonly FaultEvent[], endpoint: EndpointServer | undefined, startMs: number): Promise<FaultLogEntry[]> {
  const laneOf = (e: FaultEvent) => (e.kind === "natsKill" ? "nats" : e.kind.startsWith("endpoint") ? "endpoint" : "node");
  const log: FaultLogEntry[] = [];
  const lanes = new Map<string, FaultEvent[]>();
  for (const e of events) lanes.set(laneOf(e), [...(lanes.get(laneOf(e)) ?? []), e]);
  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      for (const e of lane) {
        const waitMs = startMs + e.atMs - nowMs();
        if (waitMs > 0) await Bun.sleep(waitMs); // the scheduled start time
        log.push(await runFault(c, e, endpoint));
      }
    }),
  );
  return log.sort((a, b) => a.startedAtMs - b.startedAtMs);
}
