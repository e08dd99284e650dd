// DIDComm apv: base64url(SHA-256(sorted recipient kids joined with ".")).
import { hash } from "node:crypto";
import { b64uEncode } from "../encoding/base64url.ts";

/**
 * Computes the DIDComm v2 `apv` for a recipient list. Kids are sorted by their UTF-8 bytes
 * (the same order didcomm-rust's byte-wise string sort yields), joined with ".", and hashed.
 */
export function computeApv(kids: readonly string[]): string {
  return b64uEncode(apvDigest(kids));
}

export function apvDigest(kids: readonly string[]): Uint8Array {
  const encoded = kids.map((k) => Buffer.from(k, "utf8"));
  encoded.sort(Buffer.compare);
  const joined = Buffer.concat(interleave(encoded, Buffer.from(".")));
  return hash("sha256", joined, "buffer");
}

function interleave(parts: Buffer[], sep: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out.push(sep);
    out.push(parts[i]!);
  }
  return out;
}
