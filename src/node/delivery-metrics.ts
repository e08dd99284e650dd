// Adapter from the delivery pipeline's metrics hooks (src/delivery/metrics.ts) to the node's Prometheus catalogue (src/observability/metrics.ts).
import type { DeliveryMetrics } from "../delivery/metrics.ts";
import type { Metrics } from "../observability/metrics.ts";

/** Final outcomes only are counted as deliveries (retries and breaker waits are visible as attempts and pending events). */
/** `clustered`: single-node breakers are local by design, which is not a fallback. */
export function prometheusDeliveryMetrics(m: Metrics, clustered: boolean): DeliveryMetrics {
  return {
    attempt: (s) => {
      const seconds = s.latencyMs / 1000;
      m.observeStage("deliver", seconds); // the pipeline's "deliver" stage is one outbound attempt
      const result = s.result === "http_408" || s.result === "http_429" || s.result === "http_other" ? "http_4xx" : s.result;
      m.deliveryAttempt(s.kind, result, seconds);
    },
    outcome: (s) => {
      if (s.outcome === "delivered" || s.outcome === "dead_lettered") m.delivery(s.kind, s.outcome);
    },
    breakerTransition: (t) => m.breakerTransition(t.destination, t.to === "half-open" ? "half_open" : t.to),
    breakerMode: (mode) => m.setBreakerLocalFallback(clustered && mode === "local"),
    dlqSize: (n) => m.setDlqSize(n),
    breakerReset: (r) => m.breakerReset(r.store === "shared" ? "shared" : "local"),
  };
}
