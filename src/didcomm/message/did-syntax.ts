// Syntactic checks for DIDs and DID URLs in message headers (no resolution, no method support check).

// W3C DID Core ABNF, plus "=" which some did:peer:2 encoders leave as base64 padding.
const DID_RE = /^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})+$/;
// Path / query / fragment of a DID URL: printable ASCII except space, quotes and angle brackets.
const DID_URL_TAIL_RE = /^[/?#][\x21\x23-\x3b\x3d\x3f-\x7e]*$/;

/** A bare DID: `did:method:id`, no path, query or fragment. */
export function isDid(value: unknown): value is string {
  return typeof value === "string" && DID_RE.test(value);
}

/** A DID or a DID URL (`did:method:id` followed by a path, query and/or fragment). */
export function isDidUrl(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const cut = firstDelimiter(value);
  if (cut < 0) return DID_RE.test(value);
  return DID_RE.test(value.slice(0, cut)) && DID_URL_TAIL_RE.test(value.slice(cut));
}

/** The DID part of a DID URL (drops path, query and fragment). */
export function didPart(didUrl: string): string {
  const cut = firstDelimiter(didUrl);
  return cut < 0 ? didUrl : didUrl.slice(0, cut);
}

function firstDelimiter(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) return i; // "/" "?" "#"
  }
  return -1;
}
