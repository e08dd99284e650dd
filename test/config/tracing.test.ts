// Tracing configuration from the standard OTEL_* variables: off by default, on with an OTLP endpoint or exporter.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config/index.ts";

const load = (env: Record<string, string>) => loadConfig(env, { hostname: () => "h" }).tracing;

describe("tracing config", () => {
  test("off by default", () => {
    expect(load({})).toEqual({ enabled: false, tracesUrl: null, serviceName: "haven" });
  });

  test("an OTLP endpoint turns it on; traces go to <endpoint>/v1/traces", () => {
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toEqual({
      enabled: true,
      tracesUrl: "http://collector:4318/v1/traces",
      serviceName: "haven",
    });
  });

  test("the traces endpoint is used as is and wins over the base endpoint", () => {
    const t = load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://b/otlp/spans", OTEL_SERVICE_NAME: "haven-eu" });
    expect(t).toEqual({ enabled: true, tracesUrl: "https://b/otlp/spans", serviceName: "haven-eu" });
  });

  test("OTEL_TRACES_EXPORTER=otlp alone uses the spec's default collector address", () => {
    expect(load({ OTEL_TRACES_EXPORTER: "OTLP" }).tracesUrl).toBe("http://localhost:4318/v1/traces");
  });

  test("none or OTEL_SDK_DISABLED turn it off even with an endpoint", () => {
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_TRACES_EXPORTER: "none" }).enabled).toBe(false);
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_SDK_DISABLED: "true" }).enabled).toBe(false);
  });

  test("bad values are refused, credentials never echoed back as accepted", () => {
    for (const env of [
      { OTEL_TRACES_EXPORTER: "jaeger" },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://a:4317" },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://user:pw@a:4318" },
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" },
      { OTEL_SERVICE_NAME: " " + "x".repeat(200) },
    ]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
    }
  });
});
