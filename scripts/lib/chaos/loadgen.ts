// Load generator process: POSTs pre-built forward envelopes to the nodes like a load balancer would (round robin over
// ready nodes), one JSON line per second on stdout (202s, errors by kind, latency histogram), accepted set at the end.
import { readFileSync } from "node:fs";
import { LatencyHistogram } from "./histogram.ts";

export interface LoadgenConfig {
  /** Node base URLs (no trailing slash). */
  nodes: string[];
  /** One request body per line. */
  bodiesFile: string;
  /** Concurrent requests in flight at most. */
  connections: number;
  /** Target requests/s over all nodes; 0 = closed loop (each connection sends as soon as its last answer came). */
  ratePerSec: number;
  /** Per-request timeout. */
  requestTimeoutMs: number;
  /** Readiness probe period per node (GET /health/ready). */
  probeIntervalMs: number;
}

/** Lines on stdout (one JSON object each). */
export type LoadgenLine =
  | { kind: "start"; atMs: number; bodies: number }
  | { kind: "sec"; sec: number; accepted: number; errors: Record<string, number>; latency: { b: [number, number][]; max: number }; ready: boolean[] }
  | { kind: "done"; requests: number; accepted: number; acceptedSet: string };

const ENCRYPTED = "application/didcomm-encrypted+json";
const NO_BACKEND_WAIT_MS = 50;
const STOP_GRACE_MS = 15_000;

/** Absolute wall-clock ms with sub-ms resolution, comparable across processes on the same machine. */
export const nowAbsMs = (): number => performance.timeOrigin + performance.now();

function emit(line: LoadgenLine): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

async function run(cfg: LoadgenConfig): Promise<void> {
  const text = readFileSync(cfg.bodiesFile, "utf8");
  const bodies = text.split("\n").filter((l) => l.length > 0);
  if (bodies.length === 0) throw new Error("no bodies");
  const acceptedSet = new Uint8Array(Math.ceil(bodies.length / 8));
  const ready = cfg.nodes.map(() => true);
  const t0 = nowAbsMs();
  emit({ kind: "start", atMs: t0, bodies: bodies.length });

  type Rec = { accepted: number; errors: Record<string, number>; latency: LatencyHistogram };
  const secs = new Map<number, Rec>();
  let flushed = -1;
  const recOf = (sec: number): Rec => {
    let r = secs.get(sec);
    if (r === undefined) secs.set(sec, (r = { accepted: 0, errors: {}, latency: new LatencyHistogram() }));
    return r;
  };
  const secNow = () => Math.floor((nowAbsMs() - t0) / 1000);
  const flush = (upTo: number) => {
    // Every second up to upTo (exclusive) is emitted, empty ones too: a second with no answer is a real zero.
    for (let s = flushed + 1; s < upTo; s++) {
      const r = secs.get(s) ?? { accepted: 0, errors: {}, latency: new LatencyHistogram() };
      secs.delete(s);
      emit({ kind: "sec", sec: s, accepted: r.accepted, errors: r.errors, latency: r.latency.toJSON(), ready: [...ready] });
      flushed = s;
    }
  };
  const flushTimer = setInterval(() => flush(secNow()), 200);

  let stopping = false;
  process.once("SIGTERM", () => {
    stopping = true;
  });

  // Readiness: a draining node fails /health/ready before it stops listening; a load balancer stops choosing it.
  const probe = async (i: number) => {
    try {
      const res = await fetch(`${cfg.nodes[i]}/health/ready`, { signal: AbortSignal.timeout(Math.max(200, cfg.probeIntervalMs * 2)) });
      await res.arrayBuffer();
      ready[i] = res.status === 200;
    } catch {
      ready[i] = false;
    }
  };
  const probeTimer = setInterval(() => cfg.nodes.forEach((_, i) => void probe(i)), cfg.probeIntervalMs);

  let rr = 0;
  const pick = (): number | undefined => {
    for (let k = 0; k < cfg.nodes.length; k++) {
      const i = (rr + k) % cfg.nodes.length;
      if (ready[i]) {
        rr = i + 1;
        return i;
      }
    }
    return undefined;
  };

  let next = 0; // next body index (cycles)
  let slot = 0; // next send slot in rate mode
  let requests = 0;
  let acceptedTotal = 0;
  const intervalMs = cfg.ratePerSec > 0 ? 1000 / cfg.ratePerSec : 0;

  const worker = async () => {
    while (!stopping) {
      // Rate mode: latency counts from the slot's intended time, so a stall is not hidden by sending later
      // (no coordinated omission); closed loop: from the moment of sending.
      let startMs = nowAbsMs();
      if (intervalMs > 0) {
        const intended = t0 + slot++ * intervalMs;
        if (intended > startMs) await Bun.sleep(intended - startMs);
        if (stopping) break;
        startMs = intended;
      }
      const node = pick();
      if (node === undefined) {
        const r = recOf(secNow());
        r.errors.no_backend = (r.errors.no_backend ?? 0) + 1;
        await Bun.sleep(NO_BACKEND_WAIT_MS);
        continue;
      }
      const idx = next;
      next = (next + 1) % bodies.length;
      requests++;
      let kind: string;
      try {
        const res = await fetch(`${cfg.nodes[node]}/`, { method: "POST", headers: { "content-type": ENCRYPTED }, body: bodies[idx]!, signal: AbortSignal.timeout(cfg.requestTimeoutMs) });
        await res.arrayBuffer();
        kind = String(res.status);
        if (res.status === 503) ready[node] = false; // the node says it cannot take work: eject until the probe says ready
      } catch (e) {
        kind = (e as Error).name === "TimeoutError" ? "timeout" : "conn_error";
        ready[node] = false;
      }
      const r = recOf(secNow());
      if (kind === "202") {
        r.accepted++;
        acceptedTotal++;
        r.latency.add(Math.max(0, nowAbsMs() - startMs));
        acceptedSet[idx >> 3]! |= 1 << (idx & 7);
      } else {
        r.errors[kind] = (r.errors[kind] ?? 0) + 1;
      }
    }
  };
  const workers = Array.from({ length: cfg.connections }, worker);
  while (!stopping) await Bun.sleep(50);
  await Promise.race([Promise.all(workers), Bun.sleep(STOP_GRACE_MS)]);
  clearInterval(probeTimer);
  clearInterval(flushTimer);
  flush(secNow() + 1);
  emit({ kind: "done", requests, accepted: acceptedTotal, acceptedSet: Buffer.from(acceptedSet).toString("base64") });
}

if (import.meta.main) {
  const path = process.argv[2];
  if (path === undefined) throw new Error("usage: loadgen.ts <config.json>");
  await run(JSON.parse(readFileSync(path, "utf8")) as LoadgenConfig);
  process.exit(0);
}
