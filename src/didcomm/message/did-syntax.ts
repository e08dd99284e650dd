// Syntactic checks for DIDs and DID URLs in message headers (no resolution, no method support check).
//
// The grammar, as the regular expressions these scanners replace (test/didcomm/did-syntax-scan.test.ts checks the
// scanners against them on seeded inputs):
//   DID:  /^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})+$/
//         (W3C DID Core ABNF, plus "=" which some did:peer:2 encoders leave as base64 padding)
//   tail: /^[/?#][\x21\x23-\x3b\x3d\x3f-\x7e]*$/  (path / query / fragment: printable ASCII except space, quotes
//         and angle brackets)
// Hand-written because did:peer:2 DIDs run to ~600 characters and the regex cost microseconds per header.

/** Character classes of ASCII codes: bit 1 = idchar ([A-Za-z0-9._=-]), 2 = hex digit, 4 = method char ([a-z0-9]), 8 = tail char. */
const ID = 1;
const HEX = 2;
const METHOD = 4;
const TAIL = 8;
const CLASS = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) if (c !== 0x22 && c !== 0x3c && c !== 0x3e) CLASS[c]! |= TAIL;
for (let c = 0x30; c <= 0x39; c++) CLASS[c]! |= ID | HEX | METHOD; // 0-9
for (let c = 0x61; c <= 0x7a; c++) CLASS[c]! |= ID | METHOD; // a-z
for (let c = 0x41; c <= 0x5a; c++) CLASS[c]! |= ID; // A-Z
for (let c = 0x61; c <= 0x66; c++) CLASS[c]! |= HEX; // a-f
for (let c = 0x41; c <= 0x46; c++) CLASS[c]! |= HEX; // A-F
for (const ch of "._=-") CLASS[ch.charCodeAt(0)]! |= ID;

const COLON = 0x3a;
const PERCENT = 0x25;

/** The class bits of the character at `i` (0 for non-ASCII and past the end). */
function classAt(s: string, i: number): number {
  const c = s.charCodeAt(i); // NaN past the end: CLASS[NaN] is undefined
  return c < 128 ? CLASS[c]! : 0;
}

/** Whether s[0, end) is a DID: "did:", a method of [a-z0-9]+, ":", then idchar/%XX units and ":", ending in a unit. */
function scanDid(s: string, end: number): boolean {
  // "did:"
  if (end < 7 || s.charCodeAt(0) !== 0x64 || s.charCodeAt(1) !== 0x69 || s.charCodeAt(2) !== 0x64 || s.charCodeAt(3) !== COLON) return false;
  let i = 4;
  while (i < end && (classAt(s, i) & METHOD) !== 0) i++;
  if (i === 4 || i >= end || s.charCodeAt(i) !== COLON) return false;
  i++;
  // Method-specific id: segments separated by ":", the last one non-empty (so it must not end with ":").
  let lastWasUnit = false;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === COLON) {
      lastWasUnit = false;
      i++;
    } else if (c === PERCENT) {
      if (i + 2 >= end || (classAt(s, i + 1) & HEX) === 0 || (classAt(s, i + 2) & HEX) === 0) return false;
      lastWasUnit = true;
      i += 3;
    } else if (c < 128 && (CLASS[c]! & ID) !== 0) {
      lastWasUnit = true;
      i++;
    } else {
      return false;
    }
  }
  return lastWasUnit;
}

/** Whether s[from, length) is a DID URL tail: the delimiter at `from` (checked by the caller), then tail chars. */
function scanTail(s: string, from: number): boolean {
  for (let i = from + 1; i < s.length; i++) if ((classAt(s, i) & TAIL) === 0) return false;
  return true;
}

/** A bare DID: `did:method:id`, no path, query or fragment. */
export function isDid(value: unknown): value is string {
  return typeof value === "string" && scanDid(value, value.length);
}

/** A DID or a DID URL (`did:method:id` followed by a path, query and/or fragment). */
export function isDidUrl(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const cut = firstDelimiter(value);
  if (cut < 0) return scanDid(value, value.length);
  return scanDid(value, cut) && scanTail(value, cut);
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
