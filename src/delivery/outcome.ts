// Classification of one HTTP attempt: success, retryable (408/429/5xx/network/timeout) or permanent (other 4xx, and anything else unexpected).

export type AttemptResult = "success" | "http_4xx" | "http_408" | "http_429" | "http_5xx" | "http_other" | "network" | "timeout";

export interface AttemptOutcome {
  readonly result: AttemptResult;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  /** success -> complete; retryable -> backoff (or DLQ after the last attempt); permanent -> DLQ now. */
  readonly verdict: "success" | "retryable" | "permanent";
  /** What the breaker is told: the destination is healthy iff it answered deliberately (2xx or a 4xx other than 408/429). */
  readonly healthy: boolean;
  /** Retry-After in ms (from 429/503), or null. */
  readonly retryAfterMs: number | null;
}

/** Retry-After beyond this is ignored (the backoff cap applies instead). */
const MAX_RETRY_AFTER_MS = 86_400_000;

export function classifyStatus(status: number, retryAfter: string | null = null): AttemptOutcome {
  if (status >= 200 && status < 300) return { result: "success", status, verdict: "success", healthy: true, retryAfterMs: null };
  if (status === 408) return retryable("http_408", status, null);
  if (status === 429) return retryable("http_429", status, parseRetryAfter(retryAfter));
  if (status >= 500 && status < 600) return retryable("http_5xx", status, status === 503 ? parseRetryAfter(retryAfter) : null);
  if (status >= 400 && status < 500) return { result: "http_4xx", status, verdict: "permanent", healthy: true, retryAfterMs: null };
  // 1xx/3xx (redirects are not followed: a webhook URL that moved is a configuration matter) and nonsense.
  return { result: "http_other", status, verdict: "permanent", healthy: true, retryAfterMs: null };
}

export function networkFailure(): AttemptOutcome {
  return retryable("network", null, null);
}

export function timeoutFailure(): AttemptOutcome {
  return retryable("timeout", null, null);
}

function retryable(result: AttemptResult, status: number | null, retryAfterMs: number | null): AttemptOutcome {
  return { result, status, verdict: "retryable", healthy: false, retryAfterMs };
}

/** Delta-seconds form only (HTTP dates depend on clocks agreeing; we do not trust that). */
export function parseRetryAfter(v: string | null): number | null {
  if (v === null || !/^\d{1,9}$/.test(v.trim())) return null;
  const ms = Number(v.trim()) * 1000;
  return ms <= MAX_RETRY_AFTER_MS ? ms : null;
}

/** Short reason string stored with the event ("http_503", "timeout"). */
export function outcomeLabel(o: AttemptOutcome): string {
  return o.status !== null && o.result !== "success" ? `http_${o.status}` : o.result;
}
