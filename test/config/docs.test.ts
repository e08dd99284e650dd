// Tests the generated README config table and the Secret wrapper's redaction.
import { describe, expect, test } from "bun:test";
import { CONFIG_VARS, renderConfigDocs, Secret } from "../../src/config/index.ts";

describe("renderConfigDocs", () => {
  test("has one row per variable in schema order, with default and accepted values", () => {
    const md = renderConfigDocs();
    const rows = md.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.map((r) => /^\| `([A-Z_]+)`/.exec(r)?.[1])).toEqual(Object.keys(CONFIG_VARS));
    expect(md).toContain("| `PORT` | 3000 | an integer in 0..65535 |");
    expect(md).toContain("| `MAX_MESSAGE_BYTES` | 1 MiB | a size in 1 KiB..64 MiB");
    expect(md).toContain("| `MESSAGE_TTL_SECONDS` | 604800 s (7 days) |");
  });

  test("secret variables have no default that could be disclosed", () => {
    const secrets = Object.entries(CONFIG_VARS).filter(([, s]) => s.secret);
    expect(secrets.map(([n]) => n)).toEqual(["ADMIN_TOKEN", "NATS_URL"]);
    for (const [, s] of secrets) {
      const d: unknown = s.defaultValue;
      expect(d === null || (Array.isArray(d) && d.length === 0)).toBe(true);
    }
  });

  test("the script prints the same table", async () => {
    const proc = Bun.spawn(["bun", "run", "scripts/config-docs.ts"], { cwd: `${import.meta.dir}/../..`, stdout: "pipe" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(out).toBe(renderConfigDocs());
  });
});

describe("Secret", () => {
  test("does not disclose its value through string, JSON or inspection", () => {
    const s = new Secret("top-secret-value-123");
    expect(s.reveal()).toBe("top-secret-value-123");
    expect(s.length).toBe(20);
    expect(`${s}`).toBe("[REDACTED]");
    expect(JSON.stringify({ token: s })).toBe('{"token":"[REDACTED]"}');
    expect(Bun.inspect({ token: s })).not.toContain("top-secret");
    expect(Bun.inspect(s)).not.toContain("top-secret");
  });
});
