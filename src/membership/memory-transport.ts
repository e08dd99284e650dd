// In-process gossip hub for deterministic tests: synchronous fan-out, clock-driven ping timeouts, link faults.
import type { Clock } from "../runtime/clock.ts";
import type { GossipTransport, PingHandler, Unsubscribe } from "./transport.ts";
import type { Heartbeat, SuspectNotice } from "./types.ts";

/**
 * All transports from one hub see each other. A link `from -> to` can be cut (`cut`), a node can be
 * isolated in both directions (`isolate`); cut messages are silently dropped, as on a real network.
 * Published messages are delivered on a microtask (never re-entrantly inside publish).
 */
export class MemoryGossipHub {
  readonly #clock: Clock;
  readonly #heartbeatSubs = new Map<string, Set<(hb: Heartbeat) => void>>();
  readonly #suspectSubs = new Map<string, Set<(n: SuspectNotice) => void>>();
  readonly #pingHandlers = new Map<string, PingHandler>();
  readonly #cut = new Set<string>();
  readonly #isolated = new Set<string>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A transport used by node `nodeId` (the id identifies the sender for link faults). */
  transport(nodeId: string): GossipTransport {
    return new MemoryGossipTransport(this, nodeId);
  }

  cut(from: string, to: string): void {
    this.#cut.add(`${from}>${to}`);
  }

  heal(from: string, to: string): void {
    this.#cut.delete(`${from}>${to}`);
  }

  isolate(nodeId: string): void {
    this.#isolated.add(nodeId);
  }

  rejoin(nodeId: string): void {
    this.#isolated.delete(nodeId);
  }

  canReach(from: string, to: string): boolean {
    return from === to || (!this.#isolated.has(from) && !this.#isolated.has(to) && !this.#cut.has(`${from}>${to}`));
  }

  /** @internal */
  subscribe<T>(kind: "hb" | "suspect", nodeId: string, fn: (m: T) => void): Unsubscribe {
    const map = (kind === "hb" ? this.#heartbeatSubs : this.#suspectSubs) as Map<string, Set<(m: T) => void>>;
    let set = map.get(nodeId);
    if (!set) map.set(nodeId, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @internal */
  publish<T>(kind: "hb" | "suspect", from: string, msg: T): void {
    const map = (kind === "hb" ? this.#heartbeatSubs : this.#suspectSubs) as Map<string, Set<(m: T) => void>>;
    for (const [to, fns] of map) {
      if (!this.canReach(from, to)) continue;
      for (const fn of fns) queueMicrotask(() => fn(structuredClone(msg)));
    }
  }

  /** @internal */
  servePings(nodeId: string, handler: PingHandler): Unsubscribe {
    this.#pingHandlers.set(nodeId, handler);
    return () => {
      if (this.#pingHandlers.get(nodeId) === handler) this.#pingHandlers.delete(nodeId);
    };
  }

  /** @internal A request/reply exchange: both directions must be up; no answer before the clock timeout = false. */
  ping(from: string, via: string, target: string | null, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        this.#clock.clearTimeout(timer);
        resolve(ok);
      };
      const timer = this.#clock.setTimeout(() => finish(false), timeoutMs);
      const handler = this.#pingHandlers.get(via);
      if (!handler || !this.canReach(from, via)) return;
      queueMicrotask(() => {
        handler({ from, target, timeoutMs }).then(
          (ok) => {
            if (this.canReach(via, from)) finish(ok);
          },
          () => undefined,
        );
      });
    });
  }
}

class MemoryGossipTransport implements GossipTransport {
  constructor(
    private readonly hub: MemoryGossipHub,
    private readonly nodeId: string,
  ) {}

  publishHeartbeat(hb: Heartbeat): void {
    this.hub.publish("hb", this.nodeId, hb);
  }

  publishSuspect(notice: SuspectNotice): void {
    this.hub.publish("suspect", this.nodeId, notice);
  }

  onHeartbeat(fn: (hb: Heartbeat) => void): Unsubscribe {
    return this.hub.subscribe("hb", this.nodeId, fn);
  }

  onSuspect(fn: (n: SuspectNotice) => void): Unsubscribe {
    return this.hub.subscribe("suspect", this.nodeId, fn);
  }

  servePings(nodeId: string, handler: PingHandler): Unsubscribe {
    return this.hub.servePings(nodeId, handler);
  }

  ping(from: string, via: string, target: string | null, timeoutMs: number): Promise<boolean> {
    return this.hub.ping(from, via, target, timeoutMs);
  }
}
