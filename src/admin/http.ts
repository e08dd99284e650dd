// Small HTTP helpers of the admin API: JSON responses, problem bodies, bounded JSON body reading.

export const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers } });
}

/** `{ error: code, reason }`: code is stable, reason is for humans; neither echoes secrets. */
export function problem(status: number, code: string, reason: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: code, reason }, headers);
}

export class BadRequest extends Error {
  override readonly name = "BadRequest";
  readonly status: number;
  readonly code: string;
  constructor(code: string, reason: string, status = 400) {
    super(reason);
    this.code = code;
    this.status = status;
  }
}

/** Reads a JSON object body, at most MAX_ADMIN_BODY_BYTES; throws BadRequest otherwise. */
export async function readJsonObject(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) throw new BadRequest("unsupported_media_type", "Content-Type must be application/json", 415);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_ADMIN_BODY_BYTES) throw new BadRequest("too_large", `body exceeds ${MAX_ADMIN_BODY_BYTES} bytes`, 413);
  const buf = await req.arrayBuffer();
  if (buf.byteLength > MAX_ADMIN_BODY_BYTES) throw new BadRequest("too_large", `body exceeds ${MAX_ADMIN_BODY_BYTES} bytes`, 413);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(buf));
  } catch {
    throw new BadRequest("invalid_json", "body is not valid JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new BadRequest("invalid_json", "body must be a JSON object");
  return v as Record<string, unknown>;
}

/** Integer query parameter within bounds, or the default. */
export function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BadRequest("invalid_parameter", `${name} must be an integer in ${min}..${max}`);
  return n;
}
