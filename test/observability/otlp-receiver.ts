// An in-test OTLP/HTTP (JSON) trace receiver: keeps every raw body and every span with its resource's attributes.
/** One exported span, flattened with the attributes of the resource (process) that exported it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** Resource attributes as strings, e.g. "service.name", "service.instance.id". */
  resource: Record<string, string>;
  /** The span's own attribute keys (Haven's spans carry none). */
  attributeKeys: string[];
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (spans are POSTed to `${url}/v1/traces`). */
  readonly url: string;
  /** Every request body as received (for "nothing sensitive was exported" checks). */
  readonly bodies: string[];
  readonly spans: ReceivedSpan[];
  stop(): void;
}

interface OtlpAttribute {
  key: string;
  value?: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}

interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: OtlpAttribute[] }[] }[];
  }[];
}

function attributesOf(attrs: OtlpAttribute[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of attrs ?? []) {
    const v = a.value?.stringValue ?? a.value?.intValue ?? a.value?.boolValue;
    if (v !== undefined) out[a.key] = String(v);
  }
  return out;
}

/** Starts the receiver on a free loopback port. Only JSON bodies are understood (Haven's exporter sends JSON). */
export function startOtlpReceiver(): OtlpReceiver {
  const bodies: string[] = [];
  const spans: ReceivedSpan[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/traces") return new Response("not found", { status: 404 });
      const text = await req.text();
      bodies.push(text);
      let body: OtlpBody;
      try {
        body = JSON.parse(text) as OtlpBody;
      } catch {
        return new Response("expected OTLP/JSON", { status: 400 }); // kept in bodies: the test sees what came
      }
      for (const rs of body.resourceSpans ?? []) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({ traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), name: s.name, resource, attributeKeys: (s.attributes ?? []).map((a) => a.key) });
          }
        }
      }
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    bodies,
    spans,
    stop: () => void server.stop(true),
  };
}
