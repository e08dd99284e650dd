// base58btc (Bitcoin alphabet) codec for multibase "z" values of any size up to a caller-given bound.
// @scure/base caps base58 at 2 KiB, too small for did:peer:4 long forms, so this uses native BigInt
// radix conversion (quadratic, hence every caller bounds the input length).
import { DidcommError, DidcommErrorCode } from "../errors.ts";

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;
/** Digits per BigInt step: 58^9 < 2^53, so a chunk accumulates exactly in a double. */
const CHUNK = 9;
const B58_CHUNK = 58n ** BigInt(CHUNK);

export const BASE58_RE = /^[1-9A-HJ-NP-Za-km-z]*$/;

export function base58Encode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  if (zeros === bytes.length) return "1".repeat(zeros);
  let value = BigInt("0x" + Buffer.from(bytes.buffer, bytes.byteOffset + zeros, bytes.length - zeros).toString("hex"));
  const parts: string[] = [];
  while (value > 0n) {
    let chunk = value % B58_CHUNK;
    value /= B58_CHUNK;
    let digits = "";
    for (let i = 0; i < CHUNK; i++) {
      digits = ALPHABET[Number(chunk % 58n)] + digits;
      chunk /= 58n;
    }
    parts.push(digits);
  }
  const body = parts.reverse().join("").replace(/^1+/, "");
  return "1".repeat(zeros) + body;
}

/** Strict decode: any character outside the alphabet is Malformed. */
export function base58Decode(text: string, what = "base58 value"): Uint8Array {
  if (typeof text !== "string" || !BASE58_RE.test(text)) {
    throw new DidcommError(DidcommErrorCode.Malformed, `${what} is not valid base58btc`);
  }
  let zeros = 0;
  while (zeros < text.length && text.charCodeAt(zeros) === 49 /* "1" */) zeros++;
  let value = 0n;
  for (let i = zeros; i < text.length; i += CHUNK) {
    const end = Math.min(i + CHUNK, text.length);
    let chunk = 0;
    let scale = 1;
    for (let j = i; j < end; j++) {
      chunk = chunk * 58 + INDEX[text.charCodeAt(j)]!;
      scale *= 58;
    }
    value = value * BigInt(scale) + BigInt(chunk);
  }
  let hex = value === 0n ? "" : value.toString(16);
  if (hex.length % 2 === 1) hex = "0" + hex;
  const body = Buffer.from(hex, "hex");
  const out = new Uint8Array(zeros + body.length);
  out.set(body, zeros);
  return out;
}
