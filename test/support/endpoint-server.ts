// A controllable HTTP endpoint for delivery tests (Bun.serve on 127.0.0.1): succeed, fail with 5xx, hang, or fail after K; records every request.

export type EndpointMode =
  | { kind: "succeed"; status?: number }
  | { kind: "fail"; status?: number; retryAfter?: string }
  /** Holds every request open until releaseHung() or stop(). */
  | { kind: "hang" }
  /** The next `k` requests succeed, every later one fails with `status` (default 503). */
  | { kind: "failAfter"; k: number; status?: number };

export interface RecordedRequest {
  /** 1-based arrival order. */
  readonly seq: number;
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** Arrival time (wall clock ms): for reporting gaps, not for timing assertions. */
  readonly atMs: number;
  /** Status answered, or "hung" while held (then the status it was released with). */
  status: number | "hung";
}

export interface EndpointServer {
  readonly url: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  mode(): EndpointMode;
  /** Switches mode; "failAfter" counts from the switch. */
  setMode(mode: EndpointMode): void;
  /** Requests answered 2xx / answered otherwise (hung ones are neither until released). */
  successes(): RecordedRequest[];
  failures(): RecordedRequest[];
  /** Resolves once at least `n` requests arrived (rejects after timeoutMs, default 10 s, as a test failure). */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Answers all held requests with `status` (default 503). */
  releaseHung(status?: number): void;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;

export function startEndpointServer(initial: EndpointMode = { kind: "succeed" }): EndpointServer {
  let mode = checkMode(initial);
  let sinceSwitch = 0;
  const requests: RecordedRequest[] = [];
  const hung = new Set<{ rec: RecordedRequest; resolve: (r: Response) => void }>();
  const waiters = new Set<{ n: number; resolve: () => void }>();

  const answer = (rec: RecordedRequest, status: number, headers: Record<string, string> = {}): Response => {
    rec.status = status;
    return new Response(status < 300 ? "ok" : "fail", { status, headers });
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const buf = new Uint8Array(await req.arrayBuffer());
      if (buf.length > MAX_BODY_BYTES) return new Response("too large", { status: 413 });
      const rec: RecordedRequest = {
        seq: requests.length + 1,
        method: req.method,
        path: new URL(req.url).pathname,
        idempotencyKey: req.headers.get("idempotency-key"),
        headers: Object.fromEntries(req.headers.entries()),
        body: buf,
        atMs: Date.now(),
        status: "hung",
      };
      requests.push(rec);
      sinceSwitch++;
      for (const w of [...waiters]) {
        if (requests.length >= w.n) {
          waiters.delete(w);
          w.resolve();
        }
      }
      const m = mode;
      switch (m.kind) {
        case "succeed":
          return answer(rec, m.status ?? 200);
        case "fail":
          return answer(rec, m.status ?? 503, m.retryAfter === undefined ? {} : { "Retry-After": m.retryAfter });
        case "failAfter":
          return sinceSwitch <= m.k ? answer(rec, 200) : answer(rec, m.status ?? 503);
        case "hang":
          return new Promise<Response>((resolve) => {
            const h = { rec, resolve };
            hung.add(h);
            req.signal.addEventListener("abort", () => {
              if (hung.delete(h)) resolve(new Response(null, { status: 499 }));
            });
          });
      }
    },
  });

  const releaseHung = (status = 503) => {
    for (const h of [...hung]) {
      hung.delete(h);
      h.resolve(answer(h.rec, status));
    }
  };

  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    requests,
    mode: () => mode,
    setMode(m) {
      mode = checkMode(m);
      sinceSwitch = 0;
    },
    successes: () => requests.filter((r) => typeof r.status === "number" && r.status >= 200 && r.status < 300),
    failures: () => requests.filter((r) => typeof r.status === "number" && (r.status < 200 || r.status >= 300)),
    waitForRequests(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        // A deadline, not a sleep: it only turns a hang into a readable failure.
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`endpoint saw ${requests.length} requests, expected ${n}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    releaseHung,
    async stop() {
      releaseHung(503);
      await server.stop(true);
    },
  };
}

function checkMode(m: EndpointMode): EndpointMode {
  if (m.kind === "failAfter" && (!Number.isInteger(m.k) || m.k < 0)) throw new RangeError("failAfter.k must be an integer >= 0");
  return m;
}
