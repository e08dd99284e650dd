// Destinations: the breaker's unit is scheme + host + port (default ports made explicit), and its KV key is b64url of that.
import { DeliveryError, DeliveryErrorCode } from "./errors.ts";

/** URLs longer than this come from a misconfigured registry or an attacker, never from a real endpoint. */
export const MAX_URL_CHARS = 2048;

const DEFAULT_PORTS: Readonly<Record<string, string>> = { "http:": "80", "https:": "443" };

/**
 * The destination of `url`, e.g. "https://example.com:443". Lower-cased host (WHATWG URL does that),
 * explicit port, no path, query, credentials or fragment: two URLs on the same origin share one breaker.
 * Only http and https are deliverable; anything else is an Invalid error.
 */
export function destinationOf(url: string): string {
  return parseDeliveryUrl(url).destination;
}

export interface ParsedDeliveryUrl {
  readonly url: URL;
  readonly destination: string;
}

export function parseDeliveryUrl(url: string): ParsedDeliveryUrl {
  if (typeof url !== "string" || url.length === 0 || url.length > MAX_URL_CHARS) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, `delivery URL must be 1..${MAX_URL_CHARS} characters`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new DeliveryError(DeliveryErrorCode.Invalid, "delivery URL does not parse", { cause: e });
  }
  const port = u.port === "" ? DEFAULT_PORTS[u.protocol] : u.port;
  if (port === undefined) throw new DeliveryError(DeliveryErrorCode.Invalid, `unsupported URL scheme ${u.protocol}`);
  if (u.hostname === "") throw new DeliveryError(DeliveryErrorCode.Invalid, "delivery URL has no host");
  if (u.username !== "" || u.password !== "") {
    // Credentials in URLs end up in logs and metrics labels; webhooks authenticate by signature instead.
    throw new DeliveryError(DeliveryErrorCode.Invalid, "delivery URL must not carry credentials");
  }
  return { url: u, destination: `${u.protocol}//${u.hostname}:${port}` };
}

/** KV key for a destination: base64url (no padding) of its UTF-8 bytes, so it only uses KV-legal characters. */
export function destinationKey(destination: string): string {
  return Buffer.from(destination, "utf8").toString("base64url");
}
