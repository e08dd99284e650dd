// ActorSystem: per-key ordering, concurrency across keys, domain errors, queue bound and stop().
import { describe, expect, test } from "bun:test";
import { ActorSystem, type ActorBehavior } from "../../src/mailbox/actors/actor-system.ts";
import {
  ActorConfigError,
  ActorSystemStoppedError,
  DomainError,
  MailboxOverloadedError,
} from "../../src/mailbox/actors/errors.ts";
import { ManualClock, drainMicrotasks } from "../../src/runtime/clock.ts";
import { seedFromEnv } from "../../src/runtime/random.ts";
import { Boom, deferred, fixedRandom, type Deferred } from "./helpers.ts";

interface Counter {
  key: string;
  n: number;
  gen: number;
}

function counterSystem(opts: { maxQueue?: number; behavior?: Partial<ActorBehavior<Counter>> } = {}) {
  const clock = new ManualClock();
  const inits: string[] = [];
  const passivated: Counter[] = [];
  let gen = 0;
  const system = new ActorSystem<Counter>(
    {
      init: (key) => {
        inits.push(key);
        return { key, n: 0, gen: ++gen };
      },
      onPassivate: (s) => passivated.push(s),
      ...opts.behavior,
    },
    { clock, random: fixedRandom(0.5), maxQueue: opts.maxQueue ?? 1000, restart: { backoffBaseMs: 100, backoffMaxMs: 1000 } },
  );
  return { clock, system, inits, passivated };
}

describe("ActorSystem ordering and concurrency", () => {
  test("ops on one key run one at a time in arrival order; keys interleave (randomised)", async () => {
    const { seed, random } = seedFromEnv();
    console.log(`actor ordering seed: SEED=${seed}`);
    const { system } = counterSystem();
    const keys = ["a", "b", "c", "d"];
    const log = new Map<string, number[]>(keys.map((k) => [k, []]));
    const active = new Map<string, number>(keys.map((k) => [k, 0]));
    const gates: Deferred<void>[] = [];
    const asks: Promise<number>[] = [];
    const expected = new Map<string, number[]>(keys.map((k) => [k, []]));
    let maxConcurrentKeys = 0;

    for (let i = 0; i < 200; i++) {
      const key = keys[random.int(keys.length)]!;
      expected.get(key)!.push(i);
      const gate = deferred();
      gates.push(gate);
      asks.push(
        system.ask(key, async (s) => {
          active.set(key, active.get(key)! + 1);
          expect(active.get(key)).toBe(1); // never two ops of one key at once
          maxConcurrentKeys = Math.max(maxConcurrentKeys, [...active.values()].filter((v) => v > 0).length);
          log.get(key)!.push(i);
          await gate.promise;
          active.set(key, active.get(key)! - 1);
          return ++s.n;
        }),
      );
    }
    // Release the gates in a random order: completion order must not affect per-key order.
    const order = gates.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const i of order) {
      gates[i]!.resolve();
      await drainMicrotasks();
    }
    await Promise.all(asks);
    for (const key of keys) expect(log.get(key)).toEqual(expected.get(key)!);
    expect(maxConcurrentKeys).toBeGreaterThan(1);
  });

  test("a blocked key does not block another key", async () => {
    const { system } = counterSystem();
    const gate = deferred();
    const blocked = system.ask("slow", async () => {
      await gate.promise;
      return "slow";
    });
    expect(await system.ask("fast", (s) => ++s.n)).toBe(1);
    expect(system.inspect("slow")?.running).toBe(true);
    gate.resolve();
    expect(await blocked).toBe("slow");
  });

  test("state persists between asks on the same key", async () => {
    const { system, inits } = counterSystem();
    for (let i = 1; i <= 5; i++) expect(await system.ask("k", (s) => ++s.n)).toBe(i);
    expect(inits).toEqual(["k"]);
  });
});

describe("ActorSystem domain errors", () => {
  test("DomainError and expected:true reject only their ask and keep the state", async () => {
    const { system, inits } = counterSystem();
    await system.ask("k", (s) => ++s.n);
    await expect(system.ask("k", () => Promise.reject(new DomainError("nope", "domain")))).rejects.toBeInstanceOf(DomainError);
    const marked = Object.assign(new Error("marked"), { expected: true });
    await expect(system.ask("k", () => { throw marked; })).rejects.toBe(marked);
    expect(await system.ask("k", (s) => ++s.n)).toBe(2);
    expect(inits).toEqual(["k"]);
    expect(system.inspect("k")?.status).toBe("active");
  });

  test("behavior.isExpectedError extends the domain errors", async () => {
    class NotFound extends Error {}
    const { system, inits } = counterSystem({ behavior: { isExpectedError: (e) => e instanceof NotFound } });
    await expect(system.ask("k", () => { throw new NotFound(); })).rejects.toBeInstanceOf(NotFound);
    expect(await system.ask("k", (s) => ++s.n)).toBe(1);
    expect(inits).toEqual(["k"]);
  });

  test("an expected init error rejects that ask; the next ask retries init", async () => {
    let fail = true;
    const { system } = counterSystem({
      behavior: {
        init: (key) => {
          if (fail) throw new DomainError("not_ready", "not ready");
          return { key, n: 0, gen: 1 };
        },
      },
    });
    await expect(system.ask("k", (s) => s.n)).rejects.toBeInstanceOf(DomainError);
    fail = false;
    expect(system.inspect("k")?.status).toBe("active");
    expect(await system.ask("k", (s) => ++s.n)).toBe(1);
  });
});

describe("ActorSystem queue bound", () => {
  test("maxQueue pending asks per key, then MailboxOverloadedError (retryable); other keys unaffected", async () => {
    const { system } = counterSystem({ maxQueue: 3 });
    const gate = deferred();
    const started = deferred();
    const running = system.ask("k", () => {
      started.resolve();
      return gate.promise;
    });
    await started.promise; // maxQueue counts asks not yet started (including one waiting for init)
    const queued = [1, 2, 3].map(() => system.ask("k", (s) => ++s.n));
    const err = await system.ask("k", (s) => s.n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailboxOverloadedError);
    expect((err as MailboxOverloadedError).code).toBe("mailbox_overloaded");
    expect((err as MailboxOverloadedError).retryable).toBe(true);
    expect(await system.ask("other", (s) => ++s.n)).toBe(1);
    gate.resolve();
    await running;
    expect(await Promise.all(queued)).toEqual([1, 2, 3]);
    expect(await system.ask("k", (s) => ++s.n)).toBe(4); // room again once drained
  });
});

describe("ActorSystem stop", () => {
  test("drain (default): queued asks complete, new asks are refused, states passivated, timer cleared", async () => {
    const { system, clock, passivated } = counterSystem();
    const gate = deferred();
    const first = system.ask("k", async (s) => {
      await gate.promise;
      return ++s.n;
    });
    const second = system.ask("k", (s) => ++s.n);
    await system.ask("j", (s) => ++s.n);
    expect(clock.pendingTimers).toBe(1);
    const stopped = system.stop();
    await expect(system.ask("k", (s) => s.n)).rejects.toBeInstanceOf(ActorSystemStoppedError);
    gate.resolve();
    await stopped;
    expect([await first, await second]).toEqual([1, 2]);
    expect(passivated.map((s) => s.key).sort()).toEqual(["j", "k"]);
    expect(system.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(system.stop()).toBe(stopped); // idempotent
  });

  test("drain:false rejects queued asks; the running op still settles", async () => {
    const { system } = counterSystem();
    const gate = deferred();
    const started = deferred();
    const first = system.ask("k", async (s) => {
      started.resolve();
      await gate.promise;
      return ++s.n;
    });
    const second = system.ask("k", (s) => ++s.n).catch((e: unknown) => e);
    await started.promise;
    const stopped = system.stop({ drain: false });
    expect(await second).toBeInstanceOf(ActorSystemStoppedError);
    gate.resolve();
    await stopped;
    expect(await first).toBe(1);
  });

  test("asks waiting on a restart are rejected by stop", async () => {
    const { system } = counterSystem();
    await expect(system.ask("k", () => { throw new Boom("x"); })).rejects.toBeInstanceOf(Boom);
    const waiting = system.ask("k", (s) => s.n);
    expect(system.inspect("k")?.status).toBe("restarting");
    await system.stop();
    await expect(waiting).rejects.toBeInstanceOf(ActorSystemStoppedError);
  });
});

describe("ActorSystem options", () => {
  test("out-of-bounds options throw ActorConfigError", () => {
    const clock = new ManualClock();
    const init = () => 0;
    expect(() => new ActorSystem({ init }, { clock, maxQueue: 0 })).toThrow(ActorConfigError);
    expect(() => new ActorSystem({ init }, { clock, idlePassivateMs: -1 })).toThrow(ActorConfigError);
    expect(() => new ActorSystem({ init }, { clock, maxActors: 1.5 })).toThrow(ActorConfigError);
    expect(() => new ActorSystem({ init }, { clock, restart: { backoffBaseMs: 100, backoffMaxMs: 10 } })).toThrow(ActorConfigError);
    expect(() => new ActorSystem({ init }, { clock })).not.toThrow();
  });
});
