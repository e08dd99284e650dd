// Response builders: JSON errors `{error, reason}`, request ids on every response, DIDComm bodies.

export const DIDCOMM_ENCRYPTED = "application/didcomm-encrypted+json";
export const DIDCOMM_SIGNED = "application/didcomm-signed+json";
export const DIDCOMM_PLAIN = "application/didcomm-plain+json";

export const REQUEST_ID_HEADER = "x-request-id";

/** Stable error codes of the transport itself (the core adds its own, e.g. `e.p.msg.replay`). */
export const TransportErrorCode = {
  BadRequest: "bad_request",
  UnsupportedMediaType: "unsupported_media_type",
  PayloadTooLarge: "payload_too_large",
  RequestTimeout: "request_timeout",
  RateLimited: "rate_limited",
  NotFound: "not_found",
  UpgradeRequired: "upgrade_required",
  TooManyConnections: "too_many_connections",
  ShuttingDown: "shutting_down",
  Unavailable: "unavailable",
} as const;

export function jsonResponse(status: number, body: unknown, requestId: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", [REQUEST_ID_HEADER]: requestId, "cache-control": "no-store", ...headers },
  });
}

/** A 4xx/503 with `{error: code, reason}`. `reason` must never contain message contents or keys. */
export function errorResponse(status: number, code: string, reason: string, requestId: string, headers?: Record<string, string>): Response {
  if (!(status >= 400 && status < 500) && status !== 503) throw new Error(`invariant: transport error status ${status} is not 4xx/503`);
  return jsonResponse(status, { error: code, reason }, requestId, headers);
}

/** Content type of a packed message: JWE (has ciphertext) or JWS (has signatures); plaintext otherwise. */
export function packedContentType(packed: string): string {
  if (packed.includes('"ciphertext"')) return DIDCOMM_ENCRYPTED;
  if (packed.includes('"signatures"')) return DIDCOMM_SIGNED;
  return DIDCOMM_PLAIN;
}

export function didcommResponse(status: number, packed: string, requestId: string, headers?: Record<string, string>): Response {
  return new Response(packed, {
    status,
    headers: { "content-type": packedContentType(packed), [REQUEST_ID_HEADER]: requestId, "cache-control": "no-store", ...headers },
  });
}

export function emptyResponse(status: number, requestId: string): Response {
  return new Response(null, { status, headers: { [REQUEST_ID_HEADER]: requestId } });
}
