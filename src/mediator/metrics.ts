// Mediator-side metrics: maps a receive outcome to forwards accepted/rejected{reason} and request latency{protocol}.
import { FORWARD_TYPE } from "../didcomm/message/forward.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RejectReason } from "../observability/metrics-catalogue.ts";
import { protocolLabel } from "../observability/metrics-labels.ts";
import type { ReceiveOutcome } from "./types.ts";

/** The slice of Metrics the core uses (tests pass a fake). */
export type CoreMetrics = Pick<Metrics, "forwardAccepted" | "forwardRejected" | "observeRequest" | "startStage">;

/** What the core learnt about a message while handling it; `type` stays undefined when the envelope did not open. */
export interface ReceiveSeen {
  type: string | undefined;
}

/** Problem reasons (protocols/errors.ts `Problems[*].reason`) to the catalogue's bounded reject reasons. */
const REASONS: Readonly<Record<string, RejectReason>> = {
  malformed: "malformed",
  invalid_message: "malformed",
  expired: "malformed",
  crypto_failed: "unpack_failed",
  recipient_not_enrolled: "unknown_recipient",
  not_enrolled: "unknown_recipient",
  replay: "replay",
  quota_exceeded: "quota_exceeded",
  too_many_live_listeners: "rate_limited",
  unavailable: "unavailable",
  internal: "internal",
};

export function rejectReasonOf(code: string, httpStatus: number): RejectReason {
  if (httpStatus === 413) return "too_large";
  return REASONS[code] ?? (httpStatus === 503 ? "unavailable" : httpStatus === 429 ? "rate_limited" : "malformed");
}

/** Protocol labels per message type seen, so the regex runs once per type; bounded (types are sender-chosen). */
const labels = new Map<string, string>();
const MAX_CACHED_TYPES = 256;
function protocolOf(type: string): string {
  let l = labels.get(type);
  if (l === undefined) {
    l = protocolLabel(type);
    if (labels.size < MAX_CACHED_TYPES) labels.set(type, l);
  }
  return l;
}

/**
 * Records one handled envelope. An envelope that did not open counts as a rejected forward (nearly all anonymous
 * traffic to a mediator is forwards, and the reasons malformed/too_large/unpack_failed exist for exactly this).
 */
export function recordReceive(m: CoreMetrics, seen: ReceiveSeen, outcome: ReceiveOutcome, startedAtMs: number): void {
  const seconds = (performance.now() - startedAtMs) / 1000;
  const type = seen.type;
  m.observeRequest(type === undefined ? "other" : protocolOf(type), seconds);
  if (type !== undefined && type !== FORWARD_TYPE) return;
  if (outcome.kind === "accepted") m.forwardAccepted();
  else m.forwardRejected(rejectReasonOf(outcome.code, outcome.httpStatus));
}
