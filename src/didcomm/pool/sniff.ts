// A cheap look at an envelope's protected header: authcrypt needs DID resolution, so it need not visit a worker.
const PROTECTED = '"protected":"';
/** A protected header is a few hundred characters; a longer one is unusual and simply goes the general way. */
const MAX_PROTECTED_CHARS = 4096;
const PROTECTED_BYTES = new TextEncoder().encode(PROTECTED);

/**
 * True when the outermost layer looks like authcrypt (ECDH-1PU in the protected header). Only a routing
 * hint: a wrong answer costs time, never correctness, because the worker sends anything needing the
 * resolver back and the in-thread unpack is the reference either way.
 */
export function looksAuthcrypt(packed: string | Uint8Array): boolean {
  let b64: string;
  if (typeof packed === "string") {
    const at = packed.indexOf(PROTECTED);
    if (at < 0) return false;
    const start = at + PROTECTED.length;
    const end = packed.indexOf('"', start);
    if (end < 0 || end - start > MAX_PROTECTED_CHARS) return false;
    b64 = packed.slice(start, end);
  } else if (packed instanceof Uint8Array) {
    const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
    const at = buf.indexOf(PROTECTED_BYTES);
    if (at < 0) return false;
    const start = at + PROTECTED_BYTES.length;
    const end = buf.indexOf(0x22, start);
    if (end < 0 || end - start > MAX_PROTECTED_CHARS) return false;
    b64 = buf.toString("latin1", start, end);
  } else {
    return false;
  }
  return Buffer.from(b64, "base64url").toString("latin1").includes('"ECDH-1PU');
}
