// src/main.ts as a process: configuration errors exit 2 with every problem listed; SIGTERM stops it cleanly.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A port that was free a moment ago (PORT=0 is not accepted by the config). */
function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

describe("main", () => {
  test("invalid configuration: exit code 2 and one line per problem", async () => {
    const proc = Bun.spawn(["bun", "run", MAIN], {
      env: { PATH: process.env.PATH ?? "", PORT: "not-a-port", LOG_LEVEL: "loud" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(2);
    const err = await new Response(proc.stderr).text();
    expect(err).toContain("invalid configuration (2 problems)");
    expect(err).toContain('PORT="not-a-port": expected an integer');
    expect(err).toContain('LOG_LEVEL="loud": expected one of');
  });

  test("prints URL, DID and invitation URL, then stops on SIGTERM with exit code 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "haven-main-"));
    dirs.push(dataDir);
    const port = freePort();
    const proc = Bun.spawn(["bun", "run", MAIN], {
      env: { PATH: process.env.PATH ?? "", PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "warn" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stdout.getReader();
    let out = "";
    while (!out.includes("Invitation URL:")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    expect(out).toContain(`URL:            http://localhost:${port}`);
    expect(out).toMatch(/DID: +did:peer:2\./);
    expect(out).toContain(`Invitation URL: http://localhost:${port}?_oob=`);
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
