// Hand-built SVG of a load-under-faults run: throughput (top) and p99 latency (bottom) per second, fault intervals shaded.

export interface PlotPoint {
  sec: number;
  perSec: number;
  /** NaN when nothing was accepted in that second (drawn as a gap). */
  p99Ms: number;
}

export interface PlotFault {
  label: string;
  fromSec: number;
  toSec: number;
}

export interface PlotOptions {
  title: string;
  widthPx?: number;
  panelHeightPx?: number;
  /** Optional horizontal goal lines. */
  goalPerSec?: number;
  goalP99Ms?: number;
}

const MARGIN = { left: 70, right: 20, top: 40, gap: 50, bottom: 40 };
const FAULT_COLOURS = ["#f4a261", "#e76f51", "#8ecae6", "#b5e48c", "#cdb4db"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A "nice" axis maximum (1, 2, 5 x 10^k) at or above `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** The SVG document (a string); deterministic for the same input. */
export function renderPlot(points: readonly PlotPoint[], faults: readonly PlotFault[], o: PlotOptions): string {
  const width = o.widthPx ?? 1100;
  const panelH = o.panelHeightPx ?? 220;
  if (!(width >= 200 && width <= 10_000) || !(panelH >= 50 && panelH <= 5_000)) throw new RangeError("plot size out of bounds");
  const height = MARGIN.top + panelH * 2 + MARGIN.gap + MARGIN.bottom;
  const plotW = width - MARGIN.left - MARGIN.right;
  const maxSec = Math.max(1, ...points.map((p) => p.sec + 1), ...faults.map((f) => f.toSec));
  const x = (sec: number) => MARGIN.left + (sec / maxSec) * plotW;
  const maxRate = niceCeil(Math.max(o.goalPerSec ?? 0, ...points.map((p) => p.perSec)));
  const maxP99 = niceCeil(Math.max(o.goalP99Ms ?? 0, ...points.map((p) => (Number.isFinite(p.p99Ms) ? p.p99Ms : 0))));
  const panels = [
    { top: MARGIN.top, max: maxRate, label: "accepted forwards/s (202)", value: (p: PlotPoint) => p.perSec, colour: "#1d3557", goal: o.goalPerSec },
    { top: MARGIN.top + panelH + MARGIN.gap, max: maxP99, label: "p99 latency (ms)", value: (p: PlotPoint) => p.p99Ms, colour: "#c1121f", goal: o.goalP99Ms },
  ];
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${esc(o.title)}</text>`);
  for (const panel of panels) {
    const y = (v: number) => panel.top + panelH - (Math.min(v, panel.max) / panel.max) * panelH;
    // Fault intervals first, so the lines are drawn over them.
    faults.forEach((f, i) => {
      const colour = FAULT_COLOURS[i % FAULT_COLOURS.length]!;
      const x0 = x(Math.max(0, f.fromSec));
      const w = Math.max(1, x(f.toSec) - x0);
      out.push(`<rect x="${x0.toFixed(1)}" y="${panel.top}" width="${w.toFixed(1)}" height="${panelH}" fill="${colour}" fill-opacity="0.35"><title>${esc(f.label)}</title></rect>`);
      if (panel === panels[0]) out.push(`<text x="${(x0 + 2).toFixed(1)}" y="${panel.top + 12 + (i % 3) * 13}" font-size="10">${esc(f.label)}</text>`);
    });
    // Axes, gridlines and tick labels (5 steps).
    out.push(`<rect x="${MARGIN.left}" y="${panel.top}" width="${plotW}" height="${panelH}" fill="none" stroke="#333"/>`);
    for (let k = 0; k <= 5; k++) {
      const v = (panel.max * k) / 5;
      const yy = y(v).toFixed(1);
      out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
      out.push(`<text x="${MARGIN.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
    }
    out.push(`<text x="14" y="${panel.top + panelH / 2}" transform="rotate(-90 14 ${panel.top + panelH / 2})" text-anchor="middle">${esc(panel.label)}</text>`);
    if (panel.goal !== undefined && panel.goal <= panel.max) {
      const gy = y(panel.goal).toFixed(1);
      out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${gy}" y2="${gy}" stroke="#2a9d8f" stroke-dasharray="6 4"><title>goal</title></line>`);
    }
    // The series as polyline segments, broken where a value is missing (NaN).
    let seg: string[] = [];
    const flush = () => {
      if (seg.length > 0) out.push(`<polyline fill="none" stroke="${panel.colour}" stroke-width="1.5" points="${seg.join(" ")}"/>`);
      seg = [];
    };
    for (const p of points) {
      const v = panel.value(p);
      if (!Number.isFinite(v)) {
        flush();
        continue;
      }
      seg.push(`${x(p.sec + 0.5).toFixed(1)},${y(v).toFixed(1)}`);
    }
    flush();
  }
  // Time axis under the bottom panel.
  const axisY = MARGIN.top + panelH * 2 + MARGIN.gap;
  const step = niceCeil(maxSec / 10);
  for (let s = 0; s <= maxSec; s += step) {
    out.push(`<text x="${x(s).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${axisY + 32}" text-anchor="middle">seconds since load start</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
