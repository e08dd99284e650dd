// Syntax checks for string-valued variables: hosts, URLs, DIDs, paths, node ids, tokens, log-level overrides.
import { isLogLevel, LOG_LEVELS, MODULE_NAME_PATTERN, type LogLevel } from "../observability/levels.ts";
import { fail, ok, type ParseResult, type VarSpec } from "./spec.ts";

/** Hostname, IPv4 or IPv6 address to bind to (syntax only; binding reports the rest). */
export function checkHost(s: string): ParseResult<string> {
  return s.length <= 253 && /^[A-Za-z0-9.:_\-[\]%]+$/.test(s) ? ok(s) : fail();
}

/**
 * The mediator's public base URL: http(s), no credentials, query or fragment. Returned without a
 * trailing slash so paths can be appended (`${publicUrl}/ws`).
 */
export function checkPublicUrl(s: string): ParseResult<string> {
  if (s.length > 2048) return fail("too long");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail("not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return fail("scheme must be http or https");
  if (u.username || u.password) return fail("must not contain credentials");
  if (u.search || u.hash) return fail("must not contain a query or fragment");
  return ok(`${u.origin}${u.pathname.replace(/\/+$/, "")}`);
}

/** OTLP/HTTP collector URL: http(s), no credentials (headers carry them: OTEL_EXPORTER_OTLP_HEADERS). */
export function checkOtlpUrl(s: string): ParseResult<string> {
  if (s.length > 2048) return fail("too long");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail("not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return fail("scheme must be http or https (OTLP/HTTP)");
  if (u.username || u.password) return fail("must not contain credentials");
  if (u.search || u.hash) return fail("must not contain a query or fragment");
  return ok(`${u.origin}${u.pathname.replace(/\/+$/, "")}`);
}

export function checkTracesExporter(s: string): ParseResult<string> {
  const v = s.toLowerCase();
  return v === "otlp" || v === "none" ? ok(v) : fail("only otlp and none are supported");
}

export function checkServiceName(s: string): ParseResult<string> {
  return /^[\x21-\x7e][\x20-\x7e]{0,127}$/.test(s) ? ok(s) : fail();
}

/** WebSocket endpoint derived from the public URL: same host and path prefix, ws(s) scheme, `/ws`. */
export function deriveWsUrl(publicUrl: string): string {
  return `${publicUrl.replace(/^http/, "ws")}/ws`;
}

/** A filesystem path: non-empty, bounded, no NUL byte. */
export function checkPath(s: string): ParseResult<string> {
  return s.length <= 4096 && !s.includes("\0") ? ok(s) : fail();
}

/** Node ids appear in logs, metrics and cluster subjects, so they are restricted to a DNS-label-like form. */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function checkNodeId(s: string): ParseResult<string> {
  return NODE_ID_PATTERN.test(s) ? ok(s) : fail();
}

/** Default node id from the host name: lowercased, other characters mapped to `-`, at most 63 chars. */
export function nodeIdFromHostname(hostname: string): string {
  const id = hostname.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[-_]+/, "").slice(0, 63);
  return NODE_ID_PATTERN.test(id) ? id : "node";
}

export const ADMIN_TOKEN_MIN_CHARS = 16;
export const ADMIN_TOKEN_MAX_CHARS = 512;

/** Length and charset only: the detail never describes the content. */
export function checkAdminToken(s: string): ParseResult<string> {
  if (s.length < ADMIN_TOKEN_MIN_CHARS) return fail(`too short (${s.length} chars)`);
  if (s.length > ADMIN_TOKEN_MAX_CHARS) return fail(`too long (${s.length} chars)`);
  return /^[\x21-\x7e]+$/.test(s) ? ok(s) : fail("contains whitespace or non-ASCII characters");
}

/**
 * DID syntax (W3C DID Core): `did:<method>:<method-specific-id>`, idchars plus `%` escapes. `=` is
 * also accepted because some did:peer:2 encoders emit base64 padding.
 */
const DID_PATTERN = /^did:[a-z0-9]+:(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})*(?::(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})*)*$/;
export const MAX_DID_CHARS = 8192;

export function isDid(s: string): boolean {
  return s.length <= MAX_DID_CHARS && DID_PATTERN.test(s) && !s.endsWith(":");
}

/** A NATS server URL (`nats://` or `tls://`); may carry credentials, so callers treat it as secret. */
export function isNatsUrl(s: string): boolean {
  if (s.length > 2048) return false;
  try {
    const u = new URL(s);
    return (u.protocol === "nats:" || u.protocol === "tls:") && u.hostname !== "" && !u.search && !u.hash;
  } catch {
    return false;
  }
}

/** Per-module log level overrides: `storage=debug,transport=warn`. */
export function moduleLevels(o: { doc: string }): VarSpec<Readonly<Record<string, LogLevel>>> {
  return {
    doc: o.doc,
    secret: false,
    expected: `comma-separated module=level pairs, level one of ${LOG_LEVELS.join("|")}`,
    defaultValue: {},
    defaultDoc: "(none)",
    parse(raw) {
      const out: Record<string, LogLevel> = {};
      const pairs = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
      if (pairs.length > 100) return fail("more than 100 entries");
      for (const [i, pair] of pairs.entries()) {
        const [name = "", level = "", ...rest] = pair.split("=").map((s) => s.trim());
        const lower = level.toLowerCase();
        if (rest.length > 0 || !MODULE_NAME_PATTERN.test(name) || !isLogLevel(lower)) {
          return fail(`entry #${i + 1} is invalid`);
        }
        out[name] = lower;
      }
      return ok(out);
    },
  };
}
