// Haven dashboard: polls /cluster/status and /cluster/metrics?format=json and renders with textContent only (no HTML
// from data), so names and URLs from the cluster can never inject markup. No build step, no dependencies.
"use strict";

const params = new URLSearchParams(location.search);
const INTERVAL_MS = Math.min(60000, Math.max(200, Number(params.get("interval")) || 2000));
const HISTORY_MS = 5 * 60 * 1000;
const MAX_CHANGES = 50;
const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#dc2626", "#4b5563", "#7c3aed"];

/** Every node ever seen, so a node that stops is still listed (as gone) rather than silently vanishing. */
const known = new Map(); // nodeId -> { lastAccepted, lastAtMs, rate }
const history = []; // { t, accepted, reqCount, reqSum }
const changes = []; // { t, text }
let lastOwners = null; // Map partition -> nodeId

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/** A colour square; set through CSSOM because the CSP forbids inline style attributes. */
function swatch(color) {
  const s = el("span", { class: "swatch" });
  s.style.background = color;
  return s;
}

function replaceChildren(parent, children) {
  parent.replaceChildren(...children);
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store", headers: { accept: "application/json" } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/** Sum of a family's series (optionally one series name, optionally filtered by labels). */
function sumOf(snapshot, name, metricName, filter) {
  const fam = snapshot.families.find((f) => f.name === name);
  if (!fam) return 0;
  let total = 0;
  for (const v of fam.values) {
    if ((v.metricName ?? fam.name) !== (metricName ?? name)) continue;
    if (filter && !Object.entries(filter).every(([k, want]) => v.labels[k] === want)) continue;
    if (Number.isFinite(v.value)) total += v.value;
  }
  return total;
}

function colorOf(nodeIds, id) {
  const i = nodeIds.indexOf(id);
  return i < 0 ? "#9ca3af" : PALETTE[i % PALETTE.length];
}

function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

function renderNodes(status, metrics, nowMs) {
  const members = new Map((status?.members ?? []).map((m) => [m.nodeId, m]));
  const reports = new Map((metrics?.nodes ?? []).map((n) => [n.nodeId, n]));
  for (const id of [...members.keys(), ...reports.keys()]) if (!known.has(id)) known.set(id, { lastAccepted: null, lastAtMs: 0, rate: NaN });
  const ids = [...known.keys()].sort();
  const rows = ids.map((id) => {
    const m = members.get(id);
    const r = reports.get(id);
    const k = known.get(id);
    const state = m ? m.state : r?.ok ? "alive" : "gone";
    const health = !r ? "unreachable" : !r.ok ? "unreachable" : r.ready >= 1 ? "ready" : "not ready";
    if (r?.ok) {
      if (k.lastAccepted !== null && nowMs > k.lastAtMs) k.rate = ((r.forwardsAccepted - k.lastAccepted) * 1000) / (nowMs - k.lastAtMs);
      k.lastAccepted = r.forwardsAccepted;
      k.lastAtMs = nowMs;
    } else k.rate = NaN;
    const serving = r?.owned ? r.owned.filter((p) => p.serving).length : NaN;
    const tr = el("tr", { "data-node": id, "data-state": state, "data-health": health });
    const name = el("td");
    name.append(swatch(colorOf(ids, id)), document.createTextNode(id));
    if (id === status?.nodeId) name.append(el("span", { class: "muted" }, " (this node)"));
    tr.append(
      name,
      el("td", { class: state === "alive" ? "ok" : state === "suspect" || state === "draining" ? "warn" : "bad" }, state),
      el("td", { class: health === "ready" ? "ok" : "bad", title: r?.error ?? "" }, health),
      el("td", {}, fmt(serving)),
      el("td", {}, fmt(k.rate, 1)),
      el("td", {}, fmt(r?.websockets)),
      el("td", {}, fmt(r?.outbox)),
      el("td", {}, fmt(m?.load?.eventLoopLagMs)),
      el("td", {}, fmt(m?.load ? m.load.rssBytes / 1048576 : NaN)),
    );
    return tr;
  });
  replaceChildren(document.querySelector("#nodes tbody"), rows);
  return ids;
}

function renderRing(status, metrics, ids, nowMs) {
  const owners = new Map();
  const serving = new Map();
  for (const n of metrics?.nodes ?? []) for (const p of n.owned ?? []) {
    owners.set(p.partition, n.nodeId);
    serving.set(p.partition, p.serving);
  }
  const count = status?.partitions ?? (owners.size === 0 ? 0 : Math.max(...owners.keys()) + 1);
  const cells = [];
  for (let p = 0; p < count; p++) {
    const owner = owners.get(p);
    const cls = owner === undefined ? "cell unowned" : serving.get(p) ? "cell" : "cell notserving";
    const cell = el("div", { class: cls, "data-partition": p, "data-owner": owner ?? "", title: `partition ${p}: ${owner ?? "no owner"}` }, p);
    if (owner !== undefined) cell.style.background = colorOf(ids, owner);
    cells.push(cell);
  }
  replaceChildren(document.getElementById("ring"), cells);
  if (count === 0) document.getElementById("ring").append(el("span", { class: "muted" }, "single node: no partitions"));
  replaceChildren(
    document.getElementById("ring-legend"),
    ids.map((id) => {
      const s = el("span");
      s.append(swatch(colorOf(ids, id)), document.createTextNode(`${id}: ${[...owners.values()].filter((o) => o === id).length}`));
      return s;
    }),
  );
  // Ownership changes seen between two polls (the counters give totals; this gives which partition went where).
  if (lastOwners !== null && count > 0) {
    for (let p = 0; p < count; p++) {
      const before = lastOwners.get(p);
      const after = owners.get(p);
      if (before !== after) changes.unshift({ t: nowMs, text: `partition ${p}: ${before ?? "none"} → ${after ?? "none"}` });
    }
    changes.length = Math.min(changes.length, MAX_CHANGES);
  }
  lastOwners = owners;
  replaceChildren(
    document.getElementById("changes"),
    changes.length === 0 ? [el("li", { class: "muted" }, "none since this page opened")] : changes.map((c) => el("li", {}, `${new Date(c.t).toLocaleTimeString()} ${c.text}`)),
  );
}

function line(svgId, points) {
  const svg = document.getElementById(svgId);
  if (points.length < 2) {
    replaceChildren(svg, []);
    return;
  }
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  const max = Math.max(1e-9, ...points.map((p) => p.v));
  const pl = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  pl.setAttribute("points", points.map((p) => `${(((p.t - t0) / span) * 600).toFixed(1)},${(118 - (p.v / max) * 110).toFixed(1)}`).join(" "));
  replaceChildren(svg, [pl]);
}

function renderCharts(agg, nowMs) {
  history.push({
    t: nowMs,
    accepted: sumOf(agg, "haven_forwards_accepted_total"),
    reqCount: sumOf(agg, "haven_request_duration_seconds", "haven_request_duration_seconds_count"),
    reqSum: sumOf(agg, "haven_request_duration_seconds", "haven_request_duration_seconds_sum"),
  });
  while (history.length > 0 && history[0].t < nowMs - HISTORY_MS) history.shift();
  const rate = [];
  const latency = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1];
    const b = history[i];
    const dt = (b.t - a.t) / 1000;
    // A node leaving makes totals drop; clamp so the chart shows no negative throughput.
    rate.push({ t: b.t, v: Math.max(0, (b.accepted - a.accepted) / dt) });
    const dc = b.reqCount - a.reqCount;
    // No requests in an interval: no latency point (a 0 would read as "fast").
    if (dc > 0) latency.push({ t: b.t, v: Math.max(0, ((b.reqSum - a.reqSum) / dc) * 1000) });
  }
  line("chart-rate", rate);
  line("chart-latency", latency);
  const peak = (pts) => Math.max(...pts.map((p) => p.v));
  document.getElementById("rate-now").textContent = rate.length ? `now ${fmt(rate[rate.length - 1].v, 1)} forwards/s · peak ${fmt(peak(rate), 1)}` : "collecting…";
  document.getElementById("latency-now").textContent = latency.length ? `last ${fmt(latency[latency.length - 1].v, 2)} ms · peak ${fmt(peak(latency), 2)} ms` : "no requests yet";
}

function renderDelivery(agg, status) {
  const items = [
    ["Forwards accepted", fmt(sumOf(agg, "haven_forwards_accepted_total"))],
    ["Forwards rejected", fmt(sumOf(agg, "haven_forwards_rejected_total"))],
    ["Outbox messages", fmt(sumOf(agg, "haven_outbox_messages"))],
    ["Pending events", fmt(sumOf(agg, "haven_delivery_pending_events"))],
    ["DLQ events", fmt(sumOf(agg, "haven_dlq_events"))],
    ["Delivered", fmt(sumOf(agg, "haven_deliveries_total", undefined, { outcome: "delivered" }))],
    ["Dead-lettered", fmt(sumOf(agg, "haven_deliveries_total", undefined, { outcome: "dead_lettered" }))],
    ["Control plane", status ? status.controlPlane.mode : "local"],
    ["Cache miss rate", fmt(sumOf(agg, "haven_cache_miss_rate"), 3)],
  ];
  const out = [];
  for (const [k, v] of items) out.push(el("dt", {}, k), el("dd", {}, v));
  replaceChildren(document.getElementById("delivery"), out);
  const fam = agg.families.find((f) => f.name === "haven_breaker_state");
  const rows = (fam?.values ?? []).filter((v) => v.value >= 1).map((v) => {
    const tr = el("tr");
    tr.append(el("td", {}, v.labels.destination), el("td", { class: v.labels.state === "closed" ? "ok" : v.labels.state === "open" ? "bad" : "warn" }, v.labels.state));
    return tr;
  });
  if (rows.length === 0) {
    const tr = el("tr");
    tr.append(el("td", { class: "muted", colspan: 2 }, "no breakers yet"));
    rows.push(tr);
  }
  replaceChildren(document.querySelector("#breakers tbody"), rows);
}

async function tick() {
  const nowMs = Date.now();
  try {
    const [status, metrics] = await Promise.all([getJson("/cluster/status"), getJson("/cluster/metrics?format=json")]);
    if (metrics === null) throw new Error("metrics unavailable");
    const ids = renderNodes(status, metrics, nowMs);
    renderRing(status, metrics, ids, nowMs);
    renderCharts(metrics.aggregate, nowMs);
    renderDelivery(metrics.aggregate, status);
    const up = metrics.nodes.filter((n) => n.ok).length;
    const summary = document.getElementById("summary");
    summary.textContent = `${up} of ${metrics.nodes.length} node${metrics.nodes.length === 1 ? "" : "s"} reporting${status ? ` · served by ${status.nodeId}` : " · single node"}`;
    summary.className = up === metrics.nodes.length ? "ok" : "warn";
    document.getElementById("updated").textContent = `updated ${new Date(nowMs).toLocaleTimeString()}`;
    document.body.dataset.polls = String(Number(document.body.dataset.polls ?? 0) + 1);
  } catch (err) {
    const summary = document.getElementById("summary");
    summary.textContent = `cannot reach this node: ${err instanceof Error ? err.message : "error"}`;
    summary.className = "bad";
  } finally {
    setTimeout(tick, INTERVAL_MS);
  }
}

tick();
