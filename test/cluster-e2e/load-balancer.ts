// A client-side load balancer for cluster tests: routes to nodes whose /health/ready is 200, fails over once on refusal.
//
// What "zero failed client requests" means in scenarios 5 and 6 (the contract this class implements and counts):
// - The LB health-checks every backend (GET /health/ready every `healthIntervalMs`) and sends a request only to a
//   backend it last saw ready, round-robin. A node that starts draining turns readiness 503 first, so the LB stops
//   choosing it; requests already sent to it must still complete (the node finishes in-flight work before exiting).
// - A request may fail over ONCE to another ready backend, and only when the first backend provably did not process it:
//   the connection was refused (the listener is already closed) or the node answered 503 `shutting_down` (refused
//   before any work). The retry's answer is final. That is what an L4/L7 balancer with health checks and
//   "retry on connect-failure / refused" does.
// - Everything else is a failure: any other non-2xx status, a connection reset or timeout (the request may have been
//   processed: the client cannot know), or a failed retry. A request succeeds iff it gets a 2xx after at most one failover.
import { ENCRYPTED, type Agent, type HttpReply, type MediatorRef } from "../support/agent.ts";

export interface LbBackend {
  readonly id: string;
  /** Base URL of the node itself (not the shared PUBLIC_URL). */
  readonly url: string;
}

export interface LbCounters {
  requests: number;
  /** Requests that got a 2xx (after at most one failover). */
  succeeded: number;
  /** First attempts refused (connection refused or 503 shutting_down) and retried on another node. */
  failovers: number;
  /** Requests that did not get a 2xx: the number the scenarios assert is 0. */
  failed: number;
}

export interface LbReply extends HttpReply {
  /** The backend whose answer this is. */
  readonly backend: LbBackend;
}

export class LbRequestError extends Error {}

const HEALTH_TIMEOUT_MS = 1_000;
/** How long a request waits for some backend to be ready (a rolling restart has none down for long). */
const NO_BACKEND_WAIT_MS = 15_000;

function isRefusal(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "ECONNREFUSED" || code === "ConnectionRefused";
}

function isShuttingDown(r: HttpReply): boolean {
  if (r.status !== 503) return false;
  try {
    return (JSON.parse(r.body) as { error?: unknown }).error === "shutting_down";
  } catch {
    return false;
  }
}

export class TestLoadBalancer {
  readonly counters: LbCounters = { requests: 0, succeeded: 0, failovers: 0, failed: 0 };
  /** The first few failures, for assertion messages. */
  readonly failures: string[] = [];
  readonly #backends: LbBackend[] = [];
  readonly #ready = new Set<LbBackend>();
  readonly #inFlight = new Map<string, number>();
  readonly #served = new Map<string, number>();
  readonly #healthIntervalMs: number;
  #next = 0;
  #running = false;
  #loops: Promise<void>[] = [];
  /** Resolved by stop(): ends the health loops' waits at once. */
  #stopped = Promise.withResolvers<void>();

  constructor(backends: readonly LbBackend[], opts: { healthIntervalMs?: number } = {}) {
    this.#healthIntervalMs = opts.healthIntervalMs ?? 50;
    if (!(this.#healthIntervalMs >= 10 && this.#healthIntervalMs <= 5_000)) throw new RangeError("healthIntervalMs must be in 10..5000");
    for (const b of backends) this.#backends.push(b);
  }

  /** Starts health checking; resolves once every backend has been probed once. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await Promise.all(this.#backends.map((b) => this.#probe(b)));
    this.#loops = this.#backends.map((b) => this.#healthLoop(b));
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopped.resolve();
    await Promise.all(this.#loops);
  }

  /** Requests currently awaiting an answer from backend `id`. */
  inFlightTo(id: string): number {
    return this.#inFlight.get(id) ?? 0;
  }

  /** Requests backend `id` answered with a 2xx so far. */
  servedBy(id: string): number {
    return this.#served.get(id) ?? 0;
  }

  ready(): LbBackend[] {
    return this.#backends.filter((b) => this.#ready.has(b));
  }

  async #probe(b: LbBackend): Promise<void> {
    let ok = false;
    try {
      const res = await fetch(`${b.url}/health/ready`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      await res.arrayBuffer();
      ok = res.status === 200;
    } catch {
      ok = false;
    }
    if (ok) this.#ready.add(b);
    else this.#ready.delete(b);
  }

  async #healthLoop(b: LbBackend): Promise<void> {
    while (this.#running) {
      // The balancer's health-check period (not a wait standing in for an event); stop() cuts it short.
      await Promise.race([Bun.sleep(this.#healthIntervalMs), this.#stopped.promise]);
      if (this.#running) await this.#probe(b);
    }
  }

  /** A ready backend other than `not`, round-robin; waits (bounded) while none is ready. */
  async #pick(not?: LbBackend): Promise<LbBackend> {
    const deadline = Date.now() + NO_BACKEND_WAIT_MS;
    for (;;) {
      const candidates = this.ready().filter((b) => b !== not);
      if (candidates.length > 0) return candidates[this.#next++ % candidates.length]!;
      if (Date.now() > deadline) throw new LbRequestError("no ready backend");
      await Bun.sleep(this.#healthIntervalMs);
    }
  }

  #fail(what: string): void {
    this.counters.failed++;
    if (this.failures.length < 20) this.failures.push(what);
  }

  /** POSTs `body` through the balancer (see the file comment for the failover rule). Never throws for a failed request. */
  async post(agent: Agent, body: string, label: string): Promise<LbReply | null> {
    this.counters.requests++;
    let first: LbBackend;
    try {
      first = await this.#pick();
    } catch (e) {
      this.#fail(`${label}: ${String(e)}`);
      return null;
    }
    for (let attempt = 1; ; attempt++) {
      const backend = attempt === 1 ? first : await this.#pick(first).catch(() => null);
      if (backend === null) {
        this.#fail(`${label}: no other ready backend for the failover`);
        return null;
      }
      let reply: HttpReply;
      this.#inFlight.set(backend.id, this.inFlightTo(backend.id) + 1);
      try {
        reply = await agent.post(`${backend.url}/`, body, ENCRYPTED);
      } catch (e) {
        if (attempt === 1 && isRefusal(e)) {
          this.#ready.delete(backend); // passive health check: out until its next probe says ready
          this.counters.failovers++;
          continue;
        }
        this.#fail(`${label} via ${backend.id} (attempt ${attempt}): ${(e as { code?: string }).code ?? ""} ${String(e)}`);
        return null;
      } finally {
        this.#inFlight.set(backend.id, this.inFlightTo(backend.id) - 1);
      }
      if (attempt === 1 && isShuttingDown(reply)) {
        this.#ready.delete(backend);
        this.counters.failovers++;
        continue;
      }
      if (reply.status < 200 || reply.status > 299) {
        this.#fail(`${label} via ${backend.id} (attempt ${attempt}): HTTP ${reply.status} ${reply.body.slice(0, 200)}`);
        return null;
      }
      this.counters.succeeded++;
      this.#served.set(backend.id, this.servedBy(backend.id) + 1);
      return { ...reply, backend };
    }
  }

  /** Packs `msg` for the mediator, sends it through the balancer, and returns the one return-route reply (or null on failure). */
  async ask(agent: Agent, mediator: Pick<MediatorRef, "did">, msg: Record<string, unknown>, label: string): Promise<Record<string, unknown> | null> {
    const reply = await this.post(agent, await agent.pack(msg, mediator.did), label);
    if (reply === null) return null;
    if (reply.status !== 200 || reply.replies.length !== 1) {
      // Counted as succeeded by post() (2xx) but not the answer asked for: a failure of this request.
      this.counters.succeeded--;
      this.#fail(`${label} via ${reply.backend.id}: expected one reply, got ${reply.status} with ${reply.replies.length}`);
      return null;
    }
    return reply.replies[0]!.message;
  }
}
