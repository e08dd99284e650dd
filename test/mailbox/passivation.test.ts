// Passivation: idle actors are released by the single sweep timer; maxActors evicts the least recently used idle one.
import { describe, expect, test } from "bun:test";
import { ActorSystem, type ActorBehavior } from "../../src/mailbox/actors/actor-system.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { Boom, deferred, fixedRandom } from "./helpers.ts";

interface State {
  key: string;
  n: number;
  pinned: boolean;
}

function setup(opts: { idlePassivateMs?: number; maxActors?: number; cooldownMs?: number } = {}, behavior: Partial<ActorBehavior<State>> = {}) {
  const clock = new ManualClock();
  const inits: string[] = [];
  const passivated: string[] = [];
  const system = new ActorSystem<State>(
    {
      init: (key) => {
        inits.push(key);
        return { key, n: 0, pinned: false };
      },
      onPassivate: (s, key) => {
        expect(s.key).toBe(key);
        passivated.push(key);
      },
      keepAlive: (s) => s.pinned,
      ...behavior,
    },
    {
      clock,
      random: fixedRandom(0.5),
      idlePassivateMs: opts.idlePassivateMs ?? 1000,
      sweepIntervalMs: 100,
      maxActors: opts.maxActors ?? 1000,
      restart: { maxRestarts: 0, cooldownMs: opts.cooldownMs ?? 10_000 },
    },
  );
  return { clock, system, inits, passivated };
}

describe("idle passivation", () => {
  test("an actor idle for idlePassivateMs is passivated; the next ask re-creates its state", async () => {
    const { clock, system, inits, passivated } = setup();
    expect(await system.ask("a", (s) => ++s.n)).toBe(1);
    await clock.advanceAsync(500);
    expect(await system.ask("b", (s) => ++s.n)).toBe(1);
    await clock.advanceAsync(600); // a idle 1100 ms, b idle 600 ms
    expect(passivated).toEqual(["a"]);
    expect(system.inspect("a")).toBeUndefined();
    expect(system.inspect("b")?.hasState).toBe(true);
    expect(await system.ask("a", (s) => ++s.n)).toBe(1); // fresh state
    expect(inits).toEqual(["a", "b", "a"]);
  });

  test("an actor with a running op is not passivated, however long the op takes", async () => {
    const { clock, system, passivated } = setup();
    const gate = deferred();
    const slow = system.ask("a", () => gate.promise);
    await clock.advanceAsync(5000);
    expect(passivated).toEqual([]);
    gate.resolve();
    await slow;
    await clock.advanceAsync(999); // completion counts as activity
    expect(passivated).toEqual([]);
    await clock.advanceAsync(101);
    expect(passivated).toEqual(["a"]);
  });

  test("keepAlive pins an actor; once unpinned it is passivated after an idle period", async () => {
    const { clock, system, passivated } = setup();
    await system.ask("a", (s) => {
      s.pinned = true;
    });
    await clock.advanceAsync(10_000);
    expect(passivated).toEqual([]);
    await system.ask("a", (s) => {
      s.pinned = false;
    });
    await clock.advanceAsync(1100);
    expect(passivated).toEqual(["a"]);
  });

  test("one timer for the whole system, none once every actor is gone or after stop", async () => {
    const { clock, system } = setup();
    expect(clock.pendingTimers).toBe(0);
    await Promise.all(Array.from({ length: 2000 }, (_, i) => system.ask(`k${i}`, (s) => ++s.n)));
    expect(system.size).toBe(2000);
    expect(clock.pendingTimers).toBe(1);
    await clock.advanceAsync(1100);
    expect(system.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await system.ask("x", (s) => s.n);
    expect(clock.pendingTimers).toBe(1);
    await system.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test("an escalated actor is not passivated before its cool-down ends (no bypass by idling)", async () => {
    const { clock, system, passivated } = setup({ cooldownMs: 10_000 });
    await expect(system.ask("a", () => { throw new Boom("x"); })).rejects.toBeInstanceOf(Boom);
    expect(system.inspect("a")?.status).toBe("escalated");
    await clock.advanceAsync(5000);
    expect(system.inspect("a")?.status).toBe("escalated");
    await expect(system.ask("a", (s) => s.n)).rejects.toMatchObject({ code: "actor_unavailable" });
    await clock.advanceAsync(6100); // cool-down over, then idle: released
    expect(system.inspect("a")).toBeUndefined();
    expect(passivated).toEqual([]); // it had no state to hand over
    expect(await system.ask("a", (s) => ++s.n)).toBe(1);
  });
});

describe("maxActors", () => {
  test("beyond maxActors the least recently used idle actor is passivated", async () => {
    const { system, passivated, clock } = setup({ maxActors: 3, idlePassivateMs: 3_600_000 });
    for (const k of ["a", "b", "c"]) {
      await system.ask(k, (s) => ++s.n);
      await clock.advanceAsync(1);
    }
    await system.ask("a", (s) => ++s.n); // a is now the most recently used
    await system.ask("d", (s) => ++s.n);
    expect(passivated).toEqual(["b"]);
    expect(system.size).toBe(3);
    await system.ask("e", (s) => ++s.n);
    expect(passivated).toEqual(["b", "c"]);
    expect(await system.ask("a", (s) => s.n)).toBe(2); // a kept its state throughout
  });

  test("busy and pinned actors are skipped; the limit is soft when nothing is idle", async () => {
    const { system, passivated } = setup({ maxActors: 2, idlePassivateMs: 3_600_000 });
    const gate = deferred();
    const busy = system.ask("busy", () => gate.promise);
    await system.ask("pinned", (s) => {
      s.pinned = true;
    });
    await system.ask("c", (s) => ++s.n);
    expect(passivated).toEqual([]); // neither busy nor pinned may go
    expect(system.size).toBe(3);
    await system.ask("d", (s) => ++s.n); // now c is the idle LRU
    expect(passivated).toEqual(["c"]);
    gate.resolve();
    await busy;
  });
});
