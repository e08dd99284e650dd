// Alert rules: promtool checks and unit tests (required in CI), plus coverage and metric-name consistency checks.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { exposedMetricNames, metricNamesIn } from "../observability/metrics-text.ts";

const ROOT = join(import.meta.dir, "../..");
const DIR = join(ROOT, "cluster/prometheus");
const PROMTOOL = Bun.which("promtool");
const IN_CI = process.env.CI === "true";

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[];
}

const yaml = (file: string) => Bun.YAML.parse(readFileSync(join(DIR, file), "utf8")) as Record<string, unknown>;
const rules = (yaml("alerts.yml").groups as { rules: Rule[] }[]).flatMap((g) => g.rules);
const cases = (yaml("alerts.test.yml").tests as { alert_rule_test?: AlertCase[] }[]).flatMap((t) => t.alert_rule_test ?? []);

function promtool(...args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync([PROMTOOL!, ...args], { cwd: DIR, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

describe("promtool", () => {
  if (PROMTOOL === null && IN_CI) {
    test("promtool is installed (CI)", () => {
      throw new Error("promtool not found on PATH: install the Debian package `prometheus` (apt-get install -y prometheus) in CI");
    });
    return;
  }

  test.skipIf(PROMTOOL === null)("check rules: alerts.yml is valid", () => {
    const r = promtool("check", "rules", "alerts.yml");
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  test.skipIf(PROMTOOL === null)("test rules: every unit test in alerts.test.yml passes", () => {
    const r = promtool("test", "rules", "alerts.test.yml");
    if (r.code !== 0) console.error(r.out);
    expect(r.code).toBe(0);
  });

  test.skipIf(PROMTOOL === null)("check config: prometheus.yml (with its rule file) is valid", () => {
    const r = promtool("check", "config", "prometheus.yml");
    if (r.code !== 0) console.error(r.out);
    expect(r.code).toBe(0);
  });
});

describe("alert rules", () => {
  test("the alerts issue #6 asks for exist", () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        "HavenBreakerOpen",
        "HavenDiskLow",
        "HavenDlqGrowing",
        "HavenErrorRateHigh",
        "HavenFallbackModeActive",
        "HavenMailboxQuotaNearFull",
        "HavenNodeDown",
        "HavenNodeNotReady",
        "HavenOutboxGrowing",
        "HavenReplicationLag",
      ].sort(),
    );
  });

  test("every alert has a firing unit test and a silent one", () => {
    for (const r of rules) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      expect([r.alert, mine.some((c) => (c.exp_alerts ?? []).length > 0)]).toEqual([r.alert, true]);
      expect([r.alert, mine.some((c) => (c.exp_alerts ?? []).length === 0)]).toEqual([r.alert, true]);
    }
    const known = new Set(rules.map((r) => r.alert));
    for (const c of cases) expect([c.alertname, known.has(c.alertname)]).toEqual([c.alertname, true]);
  });

  test("every alert has a severity and a runbook anchor that exists in docs/OPERATIONS.md", () => {
    const doc = readFileSync(join(ROOT, "docs/OPERATIONS.md"), "utf8");
    const anchors = new Set(
      [...doc.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, "")
          .replace(/ /g, "-"),
      ),
    );
    for (const r of rules) {
      expect([r.alert, r.labels?.severity]).toEqual([r.alert, expect.stringMatching(/^(warning|critical)$/) as unknown as string]);
      const anchor = r.annotations?.runbook?.split("#")[1] ?? "";
      expect([r.alert, anchors.has(anchor)]).toEqual([r.alert, true]);
    }
  });

  test("every metric an alert uses is one Haven exposes", async () => {
    const exposed = await exposedMetricNames();
    for (const r of rules) {
      const names = metricNamesIn(r.expr);
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect([r.alert, n, exposed.has(n)]).toEqual([r.alert, n, true]);
    }
  });
});
