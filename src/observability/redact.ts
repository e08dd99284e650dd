// Log redaction: key-name rules for secrets and message bodies, and a sanitizer that never prints binary contents.

/** Replacement for a redacted value. */
export const REDACTED = "[REDACTED]";

/**
 * Key names whose values are never logged, in the spelling used in code. Matching is
 * case-insensitive and ignores `-`/`_` (so `private_key`, `Private-Key` and `privateKey` all match).
 * JWK private/symmetric members (d, p, q, dp, dq, qi, k) and JWE members are included because a
 * whole JWK or envelope is easily logged by accident.
 */
export const SENSITIVE_KEYS = [
  // JWK private parts and key containers
  "d", "p", "q", "dp", "dq", "qi", "k", "jwk", "jwks", "keys", "privateKey", "privateKeyJwk",
  "privateKeyMultibase", "secretKey", "seed", "mnemonic", "cek", "sharedSecret",
  // credentials
  "secret", "secrets", "token", "accessToken", "refreshToken", "adminToken", "authorization",
  "proxyAuthorization", "cookie", "setCookie", "password", "passphrase", "apiKey", "natsUrls", "natsUrl",
  // message contents: plaintexts, envelopes and their parts
  "payload", "body", "plaintext", "ciphertext", "protected", "encryptedKey", "iv", "tag", "attachments",
] as const;

const EXACT = new Set(SENSITIVE_KEYS.map(normalizeKey));
/** Suffixes that mark a credential whatever the prefix: `sessionToken`, `clientSecret`, `dbPassword`. */
const SUFFIXES = ["token", "secret", "password", "privatekey", "apikey"];

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

export function isSensitiveKey(key: string): boolean {
  const k = normalizeKey(key);
  return EXACT.has(k) || SUFFIXES.some((s) => k.endsWith(s));
}

/**
 * pino `redact` paths: each sensitive key at the top level and one level down. They also cover
 * child-logger bindings, which the sanitizer below does not see. Only identifier-like names are
 * valid path segments.
 */
export const REDACT_PATHS: readonly string[] = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`]);

/** Deeper structures are cut off: log objects should be shallow, and this bounds the work. */
const MAX_DEPTH = 8;
/** Longest array rendered element by element. */
const MAX_ARRAY_ITEMS = 100;

function describeBinary(v: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): string {
  return `[${v.constructor.name} ${v.byteLength} bytes]`;
}

/**
 * Returns `value` with sensitive keys replaced by REDACTED at any depth and binary data replaced
 * by a length-only description. Copy-on-write: unchanged subtrees are returned as is, and the
 * input is never mutated. Errors are left to pino's error serializer.
 */
export function sanitizeForLog(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    return describeBinary(value);
  }
  if (value instanceof Error || value instanceof Date) return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Object]";
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.length > MAX_ARRAY_ITEMS ? value.slice(0, MAX_ARRAY_ITEMS) : value;
      let out: unknown[] | undefined = items === value ? undefined : [...items];
      for (let i = 0; i < items.length; i++) {
        const v = sanitizeForLog(items[i], depth + 1, seen);
        if (v !== items[i]) (out ??= [...items])[i] = v;
      }
      if (value.length > MAX_ARRAY_ITEMS) (out ??= [...items]).push(`[${value.length - MAX_ARRAY_ITEMS} more]`);
      return out ?? value;
    }
    // Objects with their own JSON form (e.g. config Secret) decide how they print.
    if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
    let out: Record<string, unknown> | undefined;
    const src = value as Record<string, unknown>;
    for (const key of Object.keys(src)) {
      const v = src[key];
      const next = isSensitiveKey(key) ? (v === undefined ? v : REDACTED) : sanitizeForLog(v, depth + 1, seen);
      if (next !== v) (out ??= { ...src })[key] = next;
    }
    return out ?? value;
  } finally {
    seen.delete(value); // only ancestors count as circular; shared siblings are fine
  }
}
