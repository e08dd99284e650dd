// DIDComm apv: base64url(SHA-256(sorted recipient kids joined with ".")).
import { hash } from "node:crypto";
import { b64uEncode } from "../encoding/base64url.ts";

// Below the surrogate range, UTF-16 code-unit order equals UTF-8 byte order, so a plain string
// sort matches didcomm-rust's byte-wise sort; only kids with astral/high characters need bytes.
const NEEDS_BYTE_SORT = /[\uD800-\uFFFF]/;

/**
 * Computes the DIDComm v2 `apv` for a recipient list. Kids are sorted by their UTF-8 bytes,
 * joined with ".", and hashed with SHA-256.
 */
export function computeApv(kids: readonly string[]): string {
  return b64uEncode(apvDigest(kids));
}

export function apvDigest(kids: readonly string[]): Uint8Array {
  if (kids.length === 1) return hash("sha256", kids[0]!, "buffer");
  if (!kids.some((k) => NEEDS_BYTE_SORT.test(k))) return hash("sha256", [...kids].sort().join("."), "buffer");
  const encoded = kids.map((k) => Buffer.from(k, "utf8"));
  encoded.sort(Buffer.compare);
  const parts: Buffer[] = [];
  const dot = Buffer.from(".");
  encoded.forEach((b, i) => {
    if (i > 0) parts.push(dot);
    parts.push(b);
  });
  return hash("sha256", Buffer.concat(parts), "buffer");
}
