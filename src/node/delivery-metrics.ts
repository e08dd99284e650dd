// Adapter from the delivery pipeline's metrics hooks (src/delivery/metrics.ts) to the node's Prometheus catalogue (src/observability/metrics.ts).
import type { DeliveryMetrics } from "../delivery/metrics.ts";
import type { Metrics } from "../observability/metrics.ts";

/** Final outcomes only are counted as deliveries (retries and breaker waits are visible as attempts and pending events). */
/** `clustered`: single-node breakers are local by design, which is not a fallback. */
export function prometheusDeliveryMetrics(m: Metrics, clustered: boolean): DeliveryMetrics {
  return {
    attempt: (s) => m.deliveryAttempt(s.kind, s.result === "http_408" || s.result === "http_429" ? "http_4xx" : s.result === "http_other" ? "http_4xx" : s.result, s.latencyMs / 1000),
    outcome: (s) => {
      if (s.outcome === "delivered" || s.outcome === "dead_lettered") m.delivery(s.kind, s.outcome);
    },
    breakerTransition: (t) => m.breakerTransition(t.destination, t.to === "half-open" ? "half_open" : t.to),
    breakerMode: (mode) => m.setBreakerLocalFallback(clustered && mode === "local"),
    dlqSize: (n) => m.setDlqSize(n),
    breakerReset: (r) => m.breakerReset(r.store === "shared" ? "shared" : "local"),
  };
}
