// Bounded label values: destination normalisation and cap, protocol labels from message types, the miss-ratio window.
import { describe, expect, test } from "bun:test";
import { DestinationLabels, destinationOf, protocolLabel } from "../../src/observability/index.ts";
import { RatioWindow } from "../../src/observability/metrics-window.ts";
import { rng } from "./metrics-text.ts";

describe("destinationOf", () => {
  test("scheme + host + port, default port explicit, no path/query/credentials", () => {
    expect(destinationOf("https://user:pw@Hooks.Example.com/a/b?token=x#f")).toBe("https://hooks.example.com:443");
    expect(destinationOf("http://10.0.0.1:8080/x")).toBe("http://10.0.0.1:8080");
    expect(destinationOf("wss://ws.example")).toBe("wss://ws.example:443");
    expect(destinationOf("http://[::1]:9000/")).toBe("http://[::1]:9000");
  });

  test("anything else is undefined", () => {
    for (const u of ["", "not a url", "ftp://x.example/", "mailto:a@b", "did:peer:2.abc", `https://${"a".repeat(3000)}.example`]) {
      expect([u.slice(0, 20), destinationOf(u)]).toEqual([u.slice(0, 20), undefined]);
    }
  });
});

describe("DestinationLabels", () => {
  test("first come first labelled, then 'other'; a labelled destination keeps its label", () => {
    const d = new DestinationLabels({ maxDestinations: 2 });
    expect(d.label("https://a.example/x")).toBe("https://a.example:443");
    expect(d.label("https://b.example")).toBe("https://b.example:443");
    expect(d.label("https://c.example")).toBe("other");
    expect(d.label("https://a.example:443/y")).toBe("https://a.example:443");
    expect(d.label("garbage")).toBe("other");
    expect([d.size, d.folded]).toEqual([2, 1]);
  });

  test("bounds its option", () => {
    expect(() => new DestinationLabels({ maxDestinations: 1001 })).toThrow(RangeError);
    expect(() => new DestinationLabels({ maxDestinations: 1.5 })).toThrow(RangeError);
  });
});

describe("protocolLabel", () => {
  test("maps message type URIs and names to the fixed set", () => {
    expect(protocolLabel("https://didcomm.org/routing/2.0/forward")).toBe("routing");
    expect(protocolLabel("https://didcomm.org/messagepickup/3.0/status-request")).toBe("pickup");
    expect(protocolLabel("https://didcomm.org/coordinate-mediation/3.0/mediate-request")).toBe("coordinate_mediation");
    expect(protocolLabel("https://didcomm.org/trust-ping/2.0/ping")).toBe("trust_ping");
    expect(protocolLabel("https://didcomm.org/discover-features/2.0/queries")).toBe("discover_features");
    expect(protocolLabel("pickup")).toBe("pickup");
    expect(protocolLabel("https://didcomm.org/basicmessage/2.0/message")).toBe("other");
    expect(protocolLabel("did:example:123")).toBe("other");
    expect(protocolLabel("x".repeat(10_000))).toBe("other");
  });
});

describe("RatioWindow", () => {
  test("matches a naive recount over the last N events", () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`ratio window seed: SEED=${seed}`);
    const r = rng(seed);
    const w = new RatioWindow(17);
    const all: boolean[] = [];
    expect(w.ratio).toBe(0);
    for (let i = 0; i < 500; i++) {
      const flag = r() < 0.3;
      all.push(flag);
      w.record(flag);
      const last = all.slice(-17);
      expect(w.ratio).toBeCloseTo(last.filter(Boolean).length / last.length, 12);
      expect(w.count).toBe(last.length);
    }
  });

  test("bounds its size", () => {
    expect(() => new RatioWindow(0)).toThrow(RangeError);
    expect(() => new RatioWindow(2_000_000)).toThrow(RangeError);
  });
});
