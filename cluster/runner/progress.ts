// Progress display and bounded polling for the cluster runner (one status line, rewritten in place on a TTY).

const isTty = process.stderr.isTTY === true;
let lastPrinted = "";
let lastPrintedAtMs = 0;
const NON_TTY_REPEAT_MS = 2_000;

/** Shows `line` as the current progress (in place on a TTY; on a pipe only when it changes or every 2 s). */
export function progress(line: string): void {
  if (isTty) {
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    lastPrinted = line;
    return;
  }
  const nowMs = Date.now();
  if (line !== lastPrinted || nowMs - lastPrintedAtMs > NON_TTY_REPEAT_MS) {
    process.stderr.write(`${line}\n`);
    lastPrinted = line;
    lastPrintedAtMs = nowMs;
  }
}

/** Ends the progress line (keeps the final text) and prints `message` if given. */
export function done(message?: string): void {
  if (isTty && lastPrinted !== "") process.stderr.write("\n");
  lastPrinted = "";
  if (message !== undefined) process.stderr.write(`${message}\n`);
}

export function info(message: string): void {
  done();
  process.stderr.write(`${message}\n`);
}

/**
 * Calls `probe` until it returns true, showing `describe()` as progress, until `timeoutMs` elapses.
 * The pause between probes is a poll interval, not an assumed duration.
 */
export async function pollUntil(timeoutMs: number, probe: () => Promise<boolean>, describe: () => string): Promise<boolean> {
  const deadlineMs = Date.now() + timeoutMs;
  const startMs = Date.now();
  for (;;) {
    if (await probe()) {
      progress(describe());
      return true;
    }
    const elapsedS = ((Date.now() - startMs) / 1000).toFixed(1);
    progress(`${describe()}  [${elapsedS}s]`);
    if (Date.now() >= deadlineMs) return false;
    await Bun.sleep(200);
  }
}

/** GET `url` and parse JSON with a timeout; null on any failure (status included when the body is not JSON). */
export async function fetchJson(url: string, timeoutMs = 1_000): Promise<{ status: number; body: unknown } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (text.length > 1 << 20) return { status: res.status, body: null };
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  } catch {
    return null;
  }
}

/** True if 127.0.0.1:port can be bound right now. */
export function portFree(port: number): boolean {
  try {
    const s = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.stop(true);
    return true;
  } catch {
    return false;
  }
}
