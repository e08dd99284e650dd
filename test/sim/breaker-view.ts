// Reads every node's view of the webhook destination's breaker (admin API + /metrics) and waits, bounded, for the cluster to agree on it.
import { adminCall, type SimCluster, type SimNode } from "./cluster.ts";
import type { BreakerView } from "./history.ts";

/** Sum of this node's `haven_breaker_transitions_total{...,to="open"}` samples (the sim has one destination). */
export function transitionsToOpen(metricsText: string): number {
  let sum = 0;
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("haven_breaker_transitions_total{") || !line.includes('to="open"')) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(v)) throw new Error(`unparsable metrics sample: ${line.slice(0, 200)}`);
    sum += v;
  }
  return sum;
}

interface AdminBreakers {
  mode?: unknown;
  items?: { destination?: unknown; store?: unknown; phase?: unknown; failures?: unknown; probe_held?: unknown; opened_at?: unknown }[];
}

/** One node's view; null fields for what it did not answer (killed, paused, or a failing admin/metrics route). */
export async function breakerViewOf(node: SimNode, destinationUrl: string): Promise<BreakerView> {
  const view: BreakerView = { node: node.id, mode: null, store: null, phase: null, failures: null, probeHeld: null, openedAt: null, transitionsToOpen: null };
  try {
    const res = await adminCall(node, "GET", `/admin/breakers?destination=${encodeURIComponent(destinationUrl)}`);
    if (res.status === 200) {
      const b = JSON.parse(res.text) as AdminBreakers;
      const item = b.items?.[0];
      view.mode = typeof b.mode === "string" ? b.mode : null;
      if (item !== undefined) {
        view.store = typeof item.store === "string" ? item.store : null;
        view.phase = typeof item.phase === "string" ? item.phase : null;
        view.failures = typeof item.failures === "number" ? item.failures : null;
        view.probeHeld = typeof item.probe_held === "boolean" ? item.probe_held : null;
        view.openedAt = typeof item.opened_at === "string" ? item.opened_at : null;
      }
    }
  } catch {
    // no answer: the fields stay null and the checker reports it
  }
  try {
    const res = await fetch(`${node.proc.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 200) view.transitionsToOpen = transitionsToOpen(await res.text());
  } catch {
    // as above
  }
  return view;
}

export function breakerViews(c: SimCluster, destinationUrl: string): Promise<BreakerView[]> {
  return Promise.all(c.nodes.map((n) => breakerViewOf(n, destinationUrl)));
}

/** Every node answered in shared mode, reading the shared record. */
export function allShared(views: readonly BreakerView[]): boolean {
  return views.every((v) => v.mode === "shared" && v.store === "shared");
}

/** All shared, all agree on the record (phase, failures, opened_at) and it is closed: the state a healed cluster reaches. */
export function breakerSettled(views: readonly BreakerView[]): boolean {
  const first = views[0];
  if (first === undefined || !allShared(views)) return false;
  return first.phase === "closed" && views.every((v) => v.phase === first.phase && v.failures === first.failures && v.openedAt === first.openedAt);
}

/** Polls views until `done` holds or `timeoutMs` passes; returns the last views read (what the checker judges). */
export async function pollViews(c: SimCluster, destinationUrl: string, done: (v: BreakerView[]) => boolean, timeoutMs: number): Promise<{ views: BreakerView[]; ok: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await breakerViews(c, destinationUrl);
    if (done(views)) return { views, ok: true };
    if (Date.now() > deadline) return { views, ok: false };
    await Bun.sleep(200); // poll interval of a condition with a deadline
  }
}
