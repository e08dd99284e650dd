// SVG writer: well-formed document with both series, shaded fault intervals, gaps for missing p99, escaped labels.
import { describe, expect, test } from "bun:test";
import { niceCeil, renderPlot } from "../../scripts/lib/chaos/svg-plot.ts";

const points = Array.from({ length: 30 }, (_, sec) => ({ sec, perSec: sec === 12 ? 0 : 1000 + sec, p99Ms: sec === 12 ? Number.NaN : 20 + sec }));

describe("renderPlot", () => {
  const svg = renderPlot(points, [{ label: "node-c cut <NATS>", fromSec: 10, toSec: 20 }, { label: "restart node-a", fromSec: 22, toSec: 25 }], { title: "t & t", goalP99Ms: 50 });

  test("is one svg element with balanced tags and no unescaped markup from labels", () => {
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("node-c cut &lt;NATS&gt;");
    expect(svg).toContain("t &amp; t");
    expect(svg).not.toContain("<NATS>");
    expect(svg).not.toContain("NaN");
    const opens = (svg.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
    const closes = (svg.match(/<\/[a-z]+>/g) ?? []).length;
    expect(opens).toBe(closes);
  });

  test("shades each fault in both panels and breaks the p99 line at a missing second", () => {
    expect((svg.match(/fill-opacity="0.35"/g) ?? []).length).toBe(4);
    // throughput: one polyline; p99: two (split at second 12)
    expect((svg.match(/<polyline/g) ?? []).length).toBe(3);
    expect(svg).toContain('stroke-dasharray="6 4"'); // the p99 goal line
  });

  test("is deterministic and bounds its size", () => {
    expect(renderPlot(points, [], { title: "x" })).toBe(renderPlot(points, [], { title: "x" }));
    expect(() => renderPlot(points, [], { title: "x", widthPx: 10 })).toThrow(RangeError);
  });

  test("niceCeil", () => {
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(1400)).toBe(2000);
    expect(niceCeil(50)).toBe(50);
    expect(niceCeil(51)).toBe(100);
  });
});
