// In-process lease store for ManualClock tests: server-side TTL by the clock, latency, and per-client outages.
import type { Clock } from "../runtime/clock.ts";
import { LeaseConflictError, LeaseTimeoutError, type CreateManyResult, type LeaseEntry, type LeaseStore } from "./lease-store.ts";

/** "up": normal; "down": requests are lost; "ackLost": requests are applied but answers are lost. */
export type LinkMode = "up" | "down" | "ackLost";

interface Entry {
  value: Uint8Array;
  revision: number;
  writtenAtMs: number;
}

/**
 * Models a NATS KV bucket with a bucket-wide TTL. Time is the injected clock's monotonic time; the
 * "server" stamps each write when the request arrives (after `latencyMs`), exactly the property the
 * fencing argument relies on: a write is stamped no earlier than the client sent it.
 */
export class MemoryLeaseServer {
  readonly #entries = new Map<string, Entry>();
  readonly #modes = new Map<string, LinkMode>();
  #revision = 0;

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
    readonly latencyMs = 0,
  ) {}

  client(name: string): LeaseStore {
    return new MemoryLeaseClient(this, name);
  }

  setMode(client: string, mode: LinkMode): void {
    this.#modes.set(client, mode);
  }

  mode(client: string): LinkMode {
    return this.#modes.get(client) ?? "up";
  }

  /** The live entry for `key` (null if absent or expired), for assertions. */
  peek(key: string): Entry | null {
    const e = this.#entries.get(key);
    if (!e) return null;
    if (this.clock.monotonicMs() - e.writtenAtMs >= this.ttlMs) {
      this.#entries.delete(key);
      return null;
    }
    return e;
  }

  /** @internal Runs `op` on the server after latency; the answer travels back after latency. */
  call<T>(client: string, timeoutMs: number, op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = this.clock.setTimeout(() => {
        settled = true;
        reject(new LeaseTimeoutError("memory lease store: timeout"));
      }, timeoutMs);
      const settle = (fn: () => void) => {
        if (settled || this.mode(client) !== "up") return;
        settled = true;
        this.clock.clearTimeout(timer);
        fn();
      };
      this.#after(() => {
        if (this.mode(client) === "down") return;
        let result: { ok: true; v: T } | { ok: false; e: unknown };
        try {
          result = { ok: true, v: op() };
        } catch (e) {
          result = { ok: false, e };
        }
        this.#after(() => settle(() => (result.ok ? resolve(result.v) : reject(result.e))));
      });
    });
  }

  /** @internal The clock's monotonic time (clients bound multi-step calls with it). */
  nowMs(): number {
    return this.clock.monotonicMs();
  }

  /** @internal */
  create(key: string, value: Uint8Array): number {
    if (this.peek(key)) throw new LeaseConflictError("exists");
    return this.#write(key, value);
  }

  /** @internal */
  update(key: string, value: Uint8Array, revision: number): number {
    if (this.peek(key)?.revision !== revision) throw new LeaseConflictError("wrong revision");
    return this.#write(key, value);
  }

  /** @internal */
  delete(key: string, revision: number): void {
    if (this.peek(key)?.revision !== revision) throw new LeaseConflictError("wrong revision");
    this.#entries.delete(key);
    this.#revision++;
  }

  #write(key: string, value: Uint8Array): number {
    const revision = ++this.#revision;
    this.#entries.set(key, { value: value.slice(), revision, writtenAtMs: this.clock.monotonicMs() });
    return revision;
  }

  #after(fn: () => void): void {
    if (this.latencyMs > 0) this.clock.setTimeout(fn, this.latencyMs);
    else queueMicrotask(fn);
  }
}

class MemoryLeaseClient implements LeaseStore {
  constructor(
    private readonly server: MemoryLeaseServer,
    private readonly name: string,
  ) {}

  create(key: string, value: Uint8Array, timeoutMs: number): Promise<number> {
    return this.server.call(this.name, timeoutMs, () => this.server.create(key, value));
  }

  update(key: string, value: Uint8Array, revision: number, timeoutMs: number): Promise<number> {
    return this.server.call(this.name, timeoutMs, () => this.server.update(key, value, revision));
  }

  /** One create after the other (like the NATS chain), skipping keys held by others, stopping at a timeout. */
  async createMany(
    entries: LeaseEntry[],
    timeoutMs: number,
    onSend: (key: string) => void,
    onCreated: (key: string, revision: number) => void,
  ): Promise<CreateManyResult> {
    const deadlineMs = this.server.nowMs() + timeoutMs;
    const created = new Map<string, number>();
    for (const e of entries) {
      const leftMs = deadlineMs - this.server.nowMs();
      if (leftMs <= 0) return { created, error: new LeaseTimeoutError("memory lease store: deadline passed") };
      onSend(e.key);
      try {
        const revision = await this.create(e.key, e.value, leftMs);
        created.set(e.key, revision);
        onCreated(e.key, revision);
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) return { created, error: err };
      }
    }
    return { created, error: null };
  }

  delete(key: string, revision: number, timeoutMs: number): Promise<void> {
    return this.server.call(this.name, timeoutMs, () => this.server.delete(key, revision));
  }

  get(key: string, timeoutMs: number): Promise<{ value: Uint8Array; revision: number } | null> {
    return this.server.call(this.name, timeoutMs, () => {
      const e = this.server.peek(key);
      return e ? { value: e.value.slice(), revision: e.revision } : null;
    });
  }
}
