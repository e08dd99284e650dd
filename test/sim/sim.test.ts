// Seeded partition simulation over a real cluster (3 nats-server, 3 Haven nodes behind fault proxies): a few fixed seeds, or exactly SEED=... when set.
import { describe, expect, test } from "bun:test";
import { failureReport, runSimulation } from "./run.ts";

/**
 * Named fixed seeds. Each runs the seed's own schedule (node kill/pause/partition/one-way/latency/reset in the node
 * lane, a NATS server kill in its lane) under the mixed workload; every one expects all checkers to pass.
 */
const SCENARIOS: { name: string; seed: number; webhooks: boolean; expected: string }[] = [
  { name: "mixed faults", seed: 1, webhooks: false, expected: "every 202 delivered, nothing back after confirmation, one owner per epoch, agreement after healing" },
  {
    name: "mixed faults with a failing/hanging webhook endpoint",
    seed: 7,
    webhooks: true,
    expected: "the same checkers pass while the endpoint fails and hangs in phases, plus breaker consistency after healing (delivery figures printed, not judged)",
  },
];

const TEST_TIMEOUT_MS = 180_000;
const envSeed = process.env.SEED?.trim();

describe("partition simulation", () => {
  if (envSeed !== undefined && envSeed !== "") {
    test(`SEED=${envSeed}`, async () => {
      // Replays exactly the given seed: the same options, workload choices and fault schedule.
      const seed = Number(envSeed);
      if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`SEED must be a non-negative safe integer, got ${envSeed}`);
      const r = await runSimulation({ seed, nodes: Number(process.env.SIM_NODES ?? 3), webhooks: process.env.SIM_WEBHOOKS === "1" });
      expect(r.violations, failureReport(r)).toEqual([]);
    }, TEST_TIMEOUT_MS);
    return;
  }
  for (const s of SCENARIOS) {
    test(`${s.name} (seed ${s.seed}): ${s.expected}`, async () => {
      const r = await runSimulation({ seed: s.seed, webhooks: s.webhooks });
      expect(r.figures.acked).toBeGreaterThan(0);
      expect(r.violations, failureReport(r)).toEqual([]);
    }, TEST_TIMEOUT_MS);
  }
});
