// Pure checkers over a recorded History: no loss of 202s, nothing back after confirmation, single owner per epoch, agreement after healing, breaker consistency.
import type { BreakerView, History } from "./history.ts";

export type CheckerName = "delivered" | "noRedeliveryAfterConfirm" | "singleOwnerPerEpoch" | "agreement" | "breakerConsistent";

export interface Violation {
  checker: CheckerName;
  detail: string;
}

/** Cap on details per checker: one failing run can produce thousands, the first ones tell the story. */
const MAX_DETAILS = 20;

function capped(checker: CheckerName, details: string[]): Violation[] {
  const out = details.slice(0, MAX_DETAILS).map((detail) => ({ checker, detail }));
  if (details.length > MAX_DETAILS) out.push({ checker, detail: `... and ${details.length - MAX_DETAILS} more` });
  return out;
}

/**
 * (a) Every forward acknowledged with 202 was picked up by its recipient, and nothing reached a recipient that was
 * never sent to it (a message for someone else, or invented). A live push alone does not count: a pushed message stays
 * stored until confirmed and only picked-up messages are confirmed, so a 202 seen only live was lost from the store.
 */
export function checkDelivered(h: History): Violation[] {
  const sentTo = new Map<string, string>();
  for (const f of h.forwards) sentTo.set(f.msgId, f.recipient);
  const picked = new Set<string>();
  const pushed = new Set<string>();
  const bad: string[] = [];
  for (const d of h.deliveries) {
    const to = sentTo.get(d.msgId);
    if (to === undefined) bad.push(`${d.msgId} delivered to ${d.recipient} but never sent`);
    else if (to !== d.recipient) bad.push(`${d.msgId} for ${to} delivered to ${d.recipient}`);
    (d.kind === "pickup" ? picked : pushed).add(`${d.recipient}\u0000${d.msgId}`);
  }
  for (const f of h.forwards) {
    const key = `${f.recipient}\u0000${f.msgId}`;
    if (f.status === 202 && !picked.has(key)) {
      bad.push(`${f.msgId} to ${f.recipient} acknowledged 202 via ${f.via} but never delivered${pushed.has(key) ? " (only pushed live, then gone from the store)" : ""}`);
    }
  }
  return capped("delivered", bad);
}

/**
 * (b) Once a messages-received was answered (the confirmation took), a pickup requested afterwards never returns
 * that message again. Before the confirmation at-least-once is allowed. Live pushes are not judged: a push is
 * produced when the message is stored and may still be in flight when the confirmation completes.
 */
export function checkNoRedeliveryAfterConfirm(h: History): Violation[] {
  const confirmedAt = new Map<string, number>();
  for (const c of h.confirmations) {
    if (!c.ok) continue;
    for (const id of c.msgIds) {
      const key = `${c.recipient}\u0000${id}`;
      confirmedAt.set(key, Math.min(confirmedAt.get(key) ?? Infinity, c.doneAtMs));
    }
  }
  const bad: string[] = [];
  for (const d of h.deliveries) {
    if (d.kind !== "pickup") continue;
    const at = confirmedAt.get(`${d.recipient}\u0000${d.msgId}`);
    if (at !== undefined && d.requestSentAtMs > at) {
      bad.push(`${d.msgId} of ${d.recipient} delivered again by ${d.node} ${Math.round(d.requestSentAtMs - at)} ms after its confirmation`);
    }
  }
  return capped("noRedeliveryAfterConfirm", bad);
}

/**
 * (c) Never two nodes serving one partition at the same fencing epoch; and, proven by the sampling windows, never a
 * node serving an older epoch after another node was seen serving a newer one (its request was sent after that
 * answer arrived), which snapshot skew alone cannot produce.
 */
export function checkSingleOwnerPerEpoch(h: History): Violation[] {
  const bad: string[] = [];
  const byPartition = new Map<number, typeof h.ownership>();
  for (const s of h.ownership) {
    const list = byPartition.get(s.partition) ?? [];
    list.push(s);
    byPartition.set(s.partition, list);
  }
  for (const [p, obs] of byPartition) {
    const owners = new Map<number, Set<string>>();
    const firstSeen = new Map<number, { atMs: number; node: string }>();
    for (const o of obs) {
      const set = owners.get(o.epoch) ?? new Set<string>();
      set.add(o.node);
      owners.set(o.epoch, set);
      const f = firstSeen.get(o.epoch);
      if (f === undefined || o.recvAtMs < f.atMs) firstSeen.set(o.epoch, { atMs: o.recvAtMs, node: o.node });
    }
    for (const [epoch, set] of owners) if (set.size > 1) bad.push(`p${p}: epoch ${epoch} served by ${[...set].sort().join(" and ")}`);
    for (const o of obs) {
      for (const [epoch, f] of firstSeen) {
        if (epoch > o.epoch && o.sentAtMs > f.atMs && f.node !== o.node) {
          bad.push(`p${p}: ${o.node} served epoch ${o.epoch} after ${f.node} was seen serving epoch ${epoch}`);
        }
      }
    }
  }
  return capped("singleOwnerPerEpoch", [...new Set(bad)]);
}

/** (d) After healing every node answered, all agree the live set is exactly the expected nodes, and each partition is served once. */
export function checkAgreement(h: History): Violation[] {
  const bad: string[] = [];
  const expected = [...h.expectedNodes].sort();
  const served = new Map<number, string[]>();
  for (const node of expected) {
    const s = h.final.find((f) => f.node === node);
    if (s === undefined || s.live === null) {
      bad.push(`${node} did not answer /cluster/status after healing`);
      continue;
    }
    const live = [...s.live].sort();
    if (JSON.stringify(live) !== JSON.stringify(expected)) bad.push(`${node} sees live [${live.join(",")}], expected [${expected.join(",")}]`);
    for (const o of s.owned) if (o.serving) served.set(o.partition, [...(served.get(o.partition) ?? []), node]);
  }
  for (let p = 0; p < h.partitions; p++) {
    const owners = served.get(p) ?? [];
    if (owners.length !== 1) bad.push(`p${p} served by ${owners.length} nodes [${owners.join(",")}]`);
  }
  return capped("agreement", bad);
}

/**
 * (e) Breaker counts consistent, for runs with webhooks (one destination: the sim's endpoint). Judged on the views
 * recorded after healing, once every node was back in shared mode, a fresh event was forwarded and the breaker had a
 * bounded time to close (run.ts). During faults exact cluster-wide counting does not hold (a node cut off from NATS
 * counts in its in-memory fallback and merges later), so nothing is judged then. After healing:
 *  1. every node answers `GET /admin/breakers` in mode "shared", reading the shared record (none stuck in local
 *     fallback: a node re-probes the store every second and merges), and all report the same record (phase,
 *     consecutive failures, opened_at);
 *  2. the breaker is closed: the endpoint is healthy and the post-heal event must get through (an open breaker
 *     admits that event as its probe after BREAKER_OPEN_MS, and its success closes it). One exemption: half-open
 *     with the probe held, because a probe whose holder was killed or cut off before completing lapses only after
 *     holderTtlMs (120 s, fixed above the maximum call timeout), longer than the bounded wait;
 *  3. counts: if the nodes counted any transition to open (sum of `haven_breaker_transitions_total{to="open"}`),
 *     the endpoint saw at least BREAKER_FAILURE_THRESHOLD requests not answered 2xx. Every opening rests on that many
 *     failed calls (threshold: recorded failures; reconcile: local plus shared failures, or a local opening after
 *     threshold local failures; probe-failure: after an earlier opening), and a failure is only recorded for a call
 *     that got a 5xx, a network error or a timeout: all are requests the endpoint did not answer 2xx.
 *     Not the converse ("threshold consecutive failures at the endpoint => an opening was counted"): counters die
 *     with a kill -9ed process, a call whose node died between the endpoint's answer and the completion is never
 *     counted, and fallback counts per node; under the sim's faults the converse fails on a correct Haven.
 */
export function checkBreakerConsistent(h: History): Violation[] {
  const b = h.breaker;
  if (b === undefined) return [];
  const bad: string[] = [];
  const views = b.views;
  for (const node of h.expectedNodes) {
    const v = views.find((x) => x.node === node);
    if (v === undefined || v.mode === null || v.phase === null) bad.push(`${node} did not report the breaker of ${b.destination} after healing`);
    else if (v.mode !== "shared" || v.store !== "shared") bad.push(`${node} still in mode ${v.mode} (record read from ${v.store ?? "?"}) after healing: not reconciled with the shared record`);
    if (v !== undefined && v.transitionsToOpen === null) bad.push(`${node} did not answer /metrics after healing`);
  }
  const answered = views.filter((v) => v.phase !== null);
  // The reference is a node reading the shared record, when there is one: a local view is the odd one out.
  const ref = answered.find((v) => v.mode === "shared" && v.store === "shared") ?? answered[0];
  if (ref !== undefined) {
    const key = (v: BreakerView) => `phase=${v.phase} failures=${v.failures} opened_at=${v.openedAt ?? "never"}`;
    for (const v of answered) if (key(v) !== key(ref)) bad.push(`${v.node} reports ${key(v)}, ${ref.node} reports ${key(ref)}`);
    for (const v of answered) {
      if (v.phase === "closed" || (v.phase === "half-open" && v.probeHeld === true)) continue;
      bad.push(`${v.node}: breaker ${v.phase}${v.phase === "half-open" ? " with no probe out" : ""} after healing, with a healthy endpoint and a fresh event`);
    }
  }
  const opens = views.reduce((n, v) => n + (v.transitionsToOpen ?? 0), 0);
  if (opens > 0 && b.endpointNotOk < b.threshold) {
    bad.push(`${opens} transition(s) to open counted, but the endpoint saw only ${b.endpointNotOk} of ${b.endpointRequests} requests not answered 2xx (threshold ${b.threshold})`);
  }
  return capped("breakerConsistent", [...new Set(bad)]);
}

export function checkAll(h: History): Violation[] {
  return [...checkDelivered(h), ...checkNoRedeliveryAfterConfirm(h), ...checkSingleOwnerPerEpoch(h), ...checkAgreement(h), ...checkBreakerConsistent(h)];
}
