// Drives an HTTP endpoint with wrk (Debian package), cycling POST bodies from a file via a Lua script; parses its JSON summary.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface WrkOptions {
  url: string;
  /** File with one request body per line (JSON envelopes contain no newline). */
  bodiesFile: string;
  connections: number;
  threads: number;
  durationSeconds: number;
  contentType: string;
  /** Where the Lua script is written. */
  workDir: string;
}

export interface WrkResult {
  requests: number;
  durationSeconds: number;
  /** Responses with status 202. */
  accepted: number;
  /** Responses with any other status. */
  other: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  socketErrors: number;
}

// Each thread starts at its own offset in the body list and walks it in order, wrapping around at the end.
const LUA = `
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  bodies = {}
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  f:close()
  local nthreads = tonumber(args[2])
  idx = math.floor(#bodies * tid / nthreads)
  accepted = 0
  other = 0
  -- Formatted once here, not per request: wrk.format builds the whole request (~5.5 KB) in Lua, and at ~10k
  -- requests/s that cost the load generator a tenth of a core on the same two cores as the server under test.
  local headers = { ["Content-Type"] = args[3] }
  for i = 1, #bodies do bodies[i] = wrk.format("POST", nil, headers, bodies[i]) end
end
function request()
  idx = idx + 1
  if idx > #bodies then idx = 1 end
  return bodies[idx]
end
function response(status, hdrs, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local acc, oth = 0, 0
  for _, t in ipairs(threads) do
    acc = acc + t:get("accepted")
    oth = oth + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"accepted":%d,"other":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration, acc, oth, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout))
end
`;

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const script = join(o.workDir, "cycle-bodies.lua");
  writeFileSync(script, LUA);
  const args = [
    "wrk",
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationSeconds}s`,
    "--timeout",
    "10s",
    "-s",
    script,
    o.url,
    "--",
    o.bodiesFile,
    String(o.threads),
    o.contentType,
  ];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err.slice(0, 500)} ${out.slice(0, 500)}`);
  const j = JSON.parse(line.slice("WRK_JSON ".length)) as Record<string, number>;
  return {
    requests: j.requests!,
    durationSeconds: j.duration_us! / 1e6,
    accepted: j.accepted!,
    other: j.other!,
    p50Ms: j.p50_us! / 1000,
    p99Ms: j.p99_us! / 1000,
    maxMs: j.max_us! / 1000,
    socketErrors: j.socket_errors!,
  };
}

/** True when the wrk binary is on PATH. */
export function haveWrk(): boolean {
  return Bun.which("wrk") !== null;
}
