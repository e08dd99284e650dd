// Supervision: crash isolation, restart with jittered backoff on a ManualClock, escalation and cool-down.
import { describe, expect, test } from "bun:test";
import { ActorSystem } from "../../src/mailbox/actors/actor-system.ts";
import { ActorUnavailableError } from "../../src/mailbox/actors/errors.ts";
import { RestartTracker, fullJitterBackoffMs } from "../../src/mailbox/actors/supervisor.ts";
import { DEFAULT_RESTART_POLICY } from "../../src/mailbox/actors/options.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { seedFromEnv } from "../../src/runtime/random.ts";
import { Boom, deferred, fixedRandom } from "./helpers.ts";

interface State {
  key: string;
  n: number;
  gen: number;
}

function manualView(m: ManualClock) {
  return { nowMs: () => m.nowMs(), monotonicMs: () => m.monotonicMs() };
}

function setup(restart: { maxRestarts?: number; windowMs?: number; cooldownMs?: number } = {}) {
  const clock = new ManualClock();
  const escalations: [string, unknown][] = [];
  const crashes: [string, unknown, State | undefined][] = [];
  let gen = 0;
  const system = new ActorSystem<State>(
    {
      init: (key) => ({ key, n: 0, gen: ++gen }),
      onCrash: (key, err, s) => crashes.push([key, err, s]),
    },
    {
      clock,
      random: fixedRandom(0.5), // delay = cap / 2 exactly
      idlePassivateMs: 3_600_000, // keep passivation out of the way
      restart: { backoffBaseMs: 100, backoffMaxMs: 1000, maxRestarts: 10, windowMs: 60_000, cooldownMs: 5_000, ...restart },
      onEscalate: (key, err) => escalations.push([key, err]),
    },
  );
  const crash = (key: string, err = new Boom(`crash ${key}`)) =>
    system.ask(key, () => {
      throw err;
    });
  return { clock, system, escalations, crashes, crash };
}

describe("crash isolation", () => {
  test("a throwing op rejects with its error, restarts only that actor; others keep state and work", async () => {
    const { system, crash, crashes, clock } = setup();
    expect(await system.ask("a", (s) => ++s.n)).toBe(1);
    expect(await system.ask("b", (s) => ++s.n)).toBe(1);
    const boom = new Boom("a broke");
    await expect(crash("a", boom)).rejects.toBe(boom);
    expect(crashes).toHaveLength(1);
    expect(crashes[0]![0]).toBe("a");
    expect(crashes[0]![2]?.n).toBe(1); // the dropped state is handed to onCrash
    expect(system.inspect("a")?.status).toBe("restarting");
    expect(system.inspect("a")?.hasState).toBe(false);
    // b is untouched: same state, still active.
    expect(await system.ask("b", (s) => ++s.n)).toBe(2);
    expect(system.inspect("b")?.status).toBe("active");
    // a's queued ask waits for the restart and then runs on a fresh state.
    const queued = system.ask("a", (s) => ({ n: ++s.n, gen: s.gen }));
    await clock.advanceAsync(50);
    expect(await queued).toEqual({ n: 1, gen: 3 });
  });

  test("asks queued behind the crashing op run after the restart, in order, on the fresh state", async () => {
    const { system, clock } = setup();
    const gate = deferred();
    const failing = system.ask("k", async () => {
      await gate.promise;
      throw new Boom("late");
    });
    const results = [1, 2, 3].map((i) => system.ask("k", (s) => `${i}:${++s.n}:${s.gen}`));
    gate.resolve();
    await expect(failing).rejects.toBeInstanceOf(Boom);
    expect(system.inspect("k")).toMatchObject({ status: "restarting", queued: 3 });
    await clock.advanceAsync(50);
    expect(await Promise.all(results)).toEqual(["1:1:2", "2:2:2", "3:3:2"]);
  });

  test("a non-domain init error crashes the actor and rejects the ask that needed the state", async () => {
    const clock = new ManualClock();
    let failures = 1;
    const system = new ActorSystem<number>(
      {
        init: () => {
          if (failures-- > 0) throw new Boom("init");
          return 41;
        },
      },
      { clock, random: fixedRandom(0.5), restart: { backoffBaseMs: 100, backoffMaxMs: 100 } },
    );
    const first = system.ask("k", (s) => s + 1);
    const second = system.ask("k", (s) => s + 1);
    await expect(first).rejects.toBeInstanceOf(Boom);
    expect(system.inspect("k")?.status).toBe("restarting");
    await clock.advanceAsync(50);
    expect(await second).toBe(42);
  });
});

describe("restart backoff", () => {
  test("delay is full-jitter exponential, observable on the ManualClock", async () => {
    const { system, clock, crash } = setup();
    // random 0.5 => delay = min(1000, 100 * 2^(n-1)) / 2: 50, 100, 200, 400, 500, 500
    for (const delayMs of [50, 100, 200, 400, 500, 500]) {
      await expect(crash("k")).rejects.toBeInstanceOf(Boom);
      const crashedAt = clock.monotonicMs();
      const info = system.inspect("k");
      expect(info?.status).toBe("restarting");
      expect(info!.restartAtMs - crashedAt).toBe(delayMs);
      const probe = system.ask("k", (s) => s.gen);
      await clock.advanceAsync(delayMs - 1);
      expect(system.inspect("k")).toMatchObject({ status: "restarting", queued: 1 });
      await clock.advanceAsync(1);
      expect(system.inspect("k")?.status).toBe("active");
      await probe;
    }
  });

  test("an ask arriving after the restart time restarts at once, even if the timer has not fired", async () => {
    // A clock whose timers never fire: only the lazy restart path in ask() can revive the actor.
    const manual = new ManualClock();
    const clock = { ...manualView(manual), setTimeout: () => ({}), clearTimeout: () => {} };
    const system = new ActorSystem<{ n: number }>(
      { init: () => ({ n: 0 }) },
      { clock, random: fixedRandom(0.5), restart: { backoffBaseMs: 100, backoffMaxMs: 100 } },
    );
    await expect(system.ask("k", () => { throw new Boom("x"); })).rejects.toBeInstanceOf(Boom);
    manual.advance(49);
    const early = system.ask("k", (s) => ++s.n);
    expect(system.inspect("k")?.status).toBe("restarting");
    manual.advance(1);
    const late = system.ask("k", (s) => ++s.n);
    expect(system.inspect("k")?.status).toBe("active");
    expect([await early, await late]).toEqual([1, 2]);
  });

  test("crashes outside the window do not count", async () => {
    const { system, clock, crash } = setup({ windowMs: 1000 });
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    await clock.advanceAsync(2000);
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    // Second crash, but the first left the window: attempt 1 again => 50 ms.
    expect(system.inspect("k")!.restartAtMs - clock.monotonicMs()).toBe(50);
  });
});

describe("escalation", () => {
  test("more than maxRestarts crashes in the window escalate once; asks fail fast until cool-down, then recover", async () => {
    const { system, clock, crash, escalations } = setup({ maxRestarts: 2, cooldownMs: 5000 });
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    await clock.advanceAsync(50);
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    await clock.advanceAsync(100);
    const gate = deferred();
    const last = new Boom("third");
    const third = system.ask("k", async () => {
      await gate.promise;
      throw last;
    });
    const queued = system.ask("k", (s) => s.n).catch((e: unknown) => e);
    gate.resolve();
    await expect(third).rejects.toBe(last);
    const queuedErr = await queued;
    expect(queuedErr).toBeInstanceOf(ActorUnavailableError);
    expect((queuedErr as ActorUnavailableError).retryable).toBe(true);
    expect((queuedErr as ActorUnavailableError).code).toBe("actor_unavailable");
    expect(escalations).toEqual([["k", last]]);
    expect(system.inspect("k")?.status).toBe("escalated");

    // New asks fail fast during the cool-down, and onEscalate is not called again.
    await clock.advanceAsync(4999);
    const early = await system.ask("k", (s) => s.n).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(ActorUnavailableError);
    expect((early as ActorUnavailableError).retryAfterMs).toBe(1);
    expect(escalations).toHaveLength(1);
    // Another actor is unaffected throughout.
    expect(await system.ask("other", (s) => ++s.n)).toBe(1);

    await clock.advanceAsync(1);
    expect(await system.ask("k", (s) => ++s.n)).toBe(1);
    // Crash history was reset: the next crash restarts (attempt 1) rather than escalating.
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    expect(system.inspect("k")?.status).toBe("restarting");
    expect(system.inspect("k")!.restartAtMs - clock.monotonicMs()).toBe(50);
  });

  test("maxRestarts 0 escalates on the first crash", async () => {
    const { system, crash, escalations } = setup({ maxRestarts: 0 });
    await expect(crash("k")).rejects.toBeInstanceOf(Boom);
    expect(system.inspect("k")?.status).toBe("escalated");
    expect(escalations).toHaveLength(1);
  });
});

describe("backoff math", () => {
  test("fullJitterBackoffMs stays in [0, min(max, base*2^(n-1))) (randomised)", () => {
    const { seed, random } = seedFromEnv();
    console.log(`backoff seed: SEED=${seed}`);
    for (let i = 0; i < 2000; i++) {
      const base = random.int(1000);
      const max = base + random.int(100_000);
      const attempt = 1 + random.int(80);
      const d = fullJitterBackoffMs(attempt, base, max, random);
      const cap = Math.min(max, base * 2 ** (attempt - 1));
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.max(1, cap));
    }
  });

  test("RestartTracker escalates on crash maxRestarts+1 inside the window, slides the window", () => {
    const t = new RestartTracker({ ...DEFAULT_RESTART_POLICY, maxRestarts: 2, windowMs: 100 }, fixedRandom(0));
    expect(t.recordCrash(0).kind).toBe("restart");
    expect(t.recordCrash(10).kind).toBe("restart");
    expect(t.recordCrash(101).kind).toBe("restart"); // crash at 0 left the window
    expect(t.recordCrash(105).kind).toBe("escalate");
    t.reset();
    expect(t.recentCrashes).toBe(0);
    expect(t.recordCrash(106).kind).toBe("restart");
  });
});
