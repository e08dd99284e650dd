// Bearer-token check for the admin API: constant-time comparison of SHA-256 digests (equal length, no early exit).
import { createHash, timingSafeEqual } from "node:crypto";
import type { Secret } from "../config/secret.ts";

export type AuthResult = "ok" | "missing" | "invalid";

const MAX_AUTH_HEADER_CHARS = 4096;

/** Hashing both sides first makes the comparison independent of the token's length as well as its content. */
export function checkBearer(header: string | null, token: Secret): AuthResult {
  if (header === null || header.length === 0) return "missing";
  if (header.length > MAX_AUTH_HEADER_CHARS) return "invalid";
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (m === null) return "missing";
  const given = createHash("sha256").update(m[1]!, "utf8").digest();
  const expected = createHash("sha256").update(token.reveal(), "utf8").digest();
  return timingSafeEqual(given, expected) ? "ok" : "invalid";
}
