// Operator CLI over the admin API and GET /cluster/status: `bun run admin -- <command>` (HAVEN_URL, ADMIN_TOKEN from env).

const USAGE = `usage: bun run admin -- <command>
  status                         cluster view of the node at HAVEN_URL (GET /cluster/status)
  drain [nodeUrl]                graceful stop of a node (default HAVEN_URL): hands partitions over, then exits
  dlq list [--limit N] [--all]   dead letters, oldest first (--all follows every page)
  dlq replay --all | <id>...     move dead letters back into the queue
  breaker status [url]           circuit breakers this node knows (or one destination)
  breaker reset <url>            force-close a destination's breaker cluster-wide (CAS on the shared record)
  webhooks list                  registered webhooks (never secrets)
  webhooks put <did> <url>       register; the secret is read from WEBHOOK_SECRET or stdin
  webhooks delete <did>
env: HAVEN_URL (default http://127.0.0.1:3000), ADMIN_TOKEN (required for all but status)`;

const BASE = (process.env.HAVEN_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
const TIMEOUT_MS = 30_000;
const MAX_PAGES = 10_000;

class CliError extends Error {}

type Json = Record<string, any>;

async function api(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<{ status: number; json: Json | null }> {
  const headers: Record<string, string> = {};
  if (opts.auth !== false) {
    const token = process.env.ADMIN_TOKEN;
    if (!token) throw new CliError("ADMIN_TOKEN is not set");
    headers.authorization = `Bearer ${token}`;
  }
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    throw new CliError(`cannot reach ${BASE}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = await res.text();
  let json: Json | null = null;
  try {
    json = text ? (JSON.parse(text) as Json) : null;
  } catch {
    // not JSON: reported below by status
  }
  if (res.status === 401 || res.status === 403) throw new CliError(`${res.status}: the admin token was ${res.status === 401 ? "missing" : "rejected"}`);
  if (res.status >= 400 && res.status !== 404) throw new CliError(`${method} ${path} -> ${res.status}${json?.reason ? `: ${json.reason}` : ""}`);
  return { status: res.status, json };
}

/** Left-aligned columns sized to content; cells are cut at 60 characters. */
function table(headers: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? "?" : String(c)).slice(0, 60)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** A spinner on stderr while `p` runs (only on a terminal, so piped output stays clean). */
async function withProgress<T>(label: string, p: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return p;
  const frames = "|/-\\";
  const started = Date.now();
  let i = 0;
  const t = setInterval(() => process.stderr.write(`\r${frames[i++ % 4]} ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`), 100);
  try {
    return await p;
  } finally {
    clearInterval(t);
    process.stderr.write("\r\x1b[K");
  }
}

async function status(): Promise<void> {
  const { status, json } = await withProgress("fetching /cluster/status", api("GET", "/cluster/status", undefined, { auth: false }));
  if (status === 404 || json === null) throw new CliError(`${BASE} is not running in cluster mode (GET /cluster/status -> ${status})`);
  const owned = Array.isArray(json.owned) ? json.owned : [];
  console.log(`node ${json.nodeId} (${json.url}) state=${json.state} nats=${json.natsConnected ? "connected" : "DOWN"} partitions=${json.partitions}`);
  console.log(`owned ${owned.length} (serving ${owned.filter((o: Json) => o.serving).length}), outbox ${json.outbox?.size ?? "?"}${json.outbox?.degraded ? " DEGRADED" : ""}, control plane ${json.controlPlane?.mode ?? "?"}\n`);
  const members: Json[] = Array.isArray(json.members) ? json.members : [];
  console.log(
    table(
      ["NODE", "STATE", "URL", "LAG ms", "RSS MiB", "QUEUE", "SOCKETS"],
      members.map((m) => [m.nodeId, m.state, m.url, fmt(m.load?.eventLoopLagMs), m.load?.rssBytes == null ? null : (m.load.rssBytes / 2 ** 20).toFixed(0), m.load?.queueDepth, m.load?.openSockets]),
    ),
  );
}

function fmt(n: unknown): string | null {
  return typeof n === "number" ? n.toFixed(1) : null;
}

async function drain(nodeUrl: string | undefined): Promise<void> {
  const base = (nodeUrl ?? BASE).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(base)) throw new CliError("drain takes a node URL (http://host:port)");
  const token = process.env.ADMIN_TOKEN;
  if (!token) throw new CliError("ADMIN_TOKEN is not set");
  let res: Response;
  try {
    res = await fetch(`${base}/admin/drain`, { method: "POST", headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    throw new CliError(`cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (res.status !== 202) throw new CliError(`POST ${base}/admin/drain -> ${res.status}`);
  console.log(`${base} is draining (it stops serving once its partitions are handed over)`);
}

async function dlqList(args: string[]): Promise<void> {
  const li = args.indexOf("--limit");
  const limit = li >= 0 ? Number(args[li + 1]) : 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError("--limit takes 1..1000");
  const all = args.includes("--all");
  const items: Json[] = [];
  let after: string | null = null;
  let total: number | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const q = `/admin/dlq?limit=${limit}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`;
    const { json } = await api("GET", q);
    items.push(...(json?.items ?? []));
    total = json?.total ?? total;
    after = json?.next ?? null;
    if (all && process.stderr.isTTY) process.stderr.write(`\rfetched ${items.length}/${total ?? "?"}`);
    if (!all || after === null) break;
  }
  if (all && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  console.log(table(["ID", "KIND", "DESTINATION", "ATTEMPTS", "REASON", "DEAD AT"], items.map((d) => [d.id, d.kind, d.destination, d.attempts, d.reason, d.dead_at])));
  console.log(`\n${items.length} shown, ${total ?? "?"} in the DLQ${after !== null ? " (more: --all)" : ""}`);
}

async function dlqReplay(args: string[]): Promise<void> {
  const ids = args.filter((a) => !a.startsWith("--"));
  if (args.includes("--all") === ids.length > 0) throw new CliError("dlq replay takes --all or a list of ids");
  const body = ids.length > 0 ? { ids } : { all: true };
  const { json } = await withProgress("replaying", api("POST", "/admin/dlq/replay", body));
  console.log(`replayed ${json?.replayed ?? "?"} event(s)`);
}

async function breakerStatus(args: string[]): Promise<void> {
  const q = args[0] === undefined ? "" : `?destination=${encodeURIComponent(args[0])}`;
  const { status, json } = await api("GET", `/admin/breakers${q}`);
  if (status === 404) throw new CliError("this node has no breaker (delivery not configured)");
  console.log(`mode: ${json?.mode}${json?.mode === "local" ? " (in-memory fallback or single node)" : ""}\n`);
  const items: Json[] = json?.items ?? [];
  console.log(table(["DESTINATION", "PHASE", "FAILURES", "IN FLIGHT", "PROBE", "OPENED AT"], items.map((b) => [b.destination, b.phase, b.failures, b.in_flight, b.probe_held, b.opened_at ?? "-"])));
}

async function breakerReset(args: string[]): Promise<void> {
  const destination = args[0];
  if (destination === undefined || args.length !== 1) throw new CliError("usage: breaker reset <url or scheme://host:port>");
  const { status, json } = await api("POST", "/admin/breakers/reset", { destination });
  if (status === 404) throw new CliError("this node has no breaker (delivery not configured)");
  const where = json?.store === "shared" ? "cluster-wide" : "on this node only (shared store unreachable; in-memory fallback)";
  console.log(`breaker of ${json?.destination} closed ${where}; it was ${json?.previous_phase} with ${json?.previous_failures} failure(s) counted`);
}

async function webhooks(args: string[]): Promise<void> {
  const [sub, did, url] = args;
  if (sub === "list") {
    const rows: Json[] = [];
    let after: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { json } = await api("GET", `/admin/webhooks?limit=1000${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
      rows.push(...(json?.items ?? []));
      after = json?.next ?? null;
      if (after === null) break;
    }
    console.log(table(["RECIPIENT DID", "URL", "UPDATED AT"], rows.map((w) => [w.recipient_did, w.url, w.updated_at])));
    return;
  }
  if (sub === "put" && did && url) {
    const secret = process.env.WEBHOOK_SECRET ?? (await Bun.stdin.text()).trim();
    if (!secret) throw new CliError("give the secret in WEBHOOK_SECRET or on stdin (never as an argument: it would land in shell history)");
    const { json } = await api("PUT", "/admin/webhooks", { recipient_did: did, url, secret });
    console.log(`registered ${json?.recipient_did} -> ${json?.url}`);
    return;
  }
  if (sub === "delete" && did) {
    const { status } = await api("DELETE", `/admin/webhooks?recipient_did=${encodeURIComponent(did)}`);
    console.log(status === 404 ? `no webhook for ${did}` : `deleted the webhook of ${did}`);
    return;
  }
  throw new CliError(USAGE);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === "status") return status();
  if (cmd === "drain") return drain(sub);
  if (cmd === "dlq" && sub === "list") return dlqList(rest);
  if (cmd === "dlq" && sub === "replay") return dlqReplay(rest);
  if (cmd === "breaker" && sub === "status") return breakerStatus(rest);
  if (cmd === "breaker" && sub === "reset") return breakerReset(rest);
  if (cmd === "webhooks") return webhooks([sub ?? "", ...rest]);
  throw new CliError(USAGE);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof CliError ? e.message : e);
    process.exit(e instanceof CliError ? 2 : 1);
  });
}

export { main as adminMain, table };
