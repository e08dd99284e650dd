// `bun run sim -- --seeds 100 [--nodes 3|4] [--seed-base N] [--window-ms N] [--webhooks]`: runs many seeded partition simulations in sequence, prints a summary and one JSON line.
import { numberArg } from "./lib/bench.ts";
import { cryptoRandom } from "../src/runtime/random.ts";
import { failureReport, runSimulation, type SimResult } from "../test/sim/run.ts";

const seeds = numberArg("seeds", 10, 1, 100_000);
const nodes = numberArg("nodes", 3, 3, 4);
const windowMs = numberArg("window-ms", 14_000, 1_000, 600_000);
const webhooks = process.argv.includes("--webhooks");
// A fresh base unless given (printed, so the whole batch replays with --seed-base).
const seedBase = numberArg("seed-base", cryptoRandom.int(2 ** 40), 0, Number.MAX_SAFE_INTEGER - 100_000);
if (!Number.isInteger(seeds) || !Number.isInteger(nodes) || !Number.isInteger(seedBase)) throw new Error("--seeds, --nodes and --seed-base take integers");

console.log(`sim batch: seeds=${seeds} nodes=${nodes} seed-base=${seedBase} window-ms=${windowMs} webhooks=${webhooks}`);
const passed: number[] = [];
const failed: { seed: number; checkers: string[] }[] = [];
const crashed: { seed: number; error: string }[] = [];
const recoveries: number[] = [];
let acked = 0;
const startedMs = Date.now();

for (let i = 0; i < seeds; i++) {
  const seed = seedBase + i;
  let r: SimResult;
  try {
    r = await runSimulation({ seed, nodes, faultWindowMs: windowMs, webhooks });
  } catch (e) {
    // Set-up failures (the cluster did not start or settle) are not checker verdicts; counted apart.
    console.log(`sim SEED=${seed} could not run: ${String(e).slice(0, 2_000)}`);
    crashed.push({ seed, error: String(e).split("\n")[0]!.slice(0, 300) });
    continue;
  }
  acked += r.figures.acked;
  recoveries.push(r.figures.recoveryMs);
  if (r.violations.length === 0) passed.push(seed);
  else {
    failed.push({ seed, checkers: [...new Set(r.violations.map((v) => v.checker))] });
    console.log(failureReport(r)); // already logged by the run; repeated here so a batch log can be grepped per seed
  }
}

recoveries.sort((a, b) => a - b);
const pct = (p: number) => (recoveries.length ? recoveries[Math.min(recoveries.length - 1, Math.floor((p / 100) * recoveries.length))]! : null);
console.log("");
console.log(`summary: ${passed.length} passed, ${failed.length} failed, ${crashed.length} could not run, of ${seeds} seeds (base ${seedBase}, ${nodes} nodes)`);
if (failed.length) console.log(`failing seeds: ${failed.map((f) => `${f.seed} [${f.checkers.join(",")}]`).join(" ")}`);
if (crashed.length) console.log(`seeds that could not run: ${crashed.map((c) => c.seed).join(" ")}`);
console.log(
  JSON.stringify({
    seeds,
    nodes,
    seedBase,
    windowMs,
    webhooks,
    passed: passed.length,
    failed: failed.length,
    crashed: crashed.length,
    failingSeeds: failed.map((f) => f.seed),
    acked,
    recoveryMsP50: pct(50),
    recoveryMsMax: recoveries.length ? recoveries[recoveries.length - 1] : null,
    wallMs: Date.now() - startedMs,
  }),
);
process.exit(failed.length + crashed.length === 0 ? 0 : 1);
