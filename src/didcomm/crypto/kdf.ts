// JOSE Concat KDF (RFC 7518 §4.6.2, NIST SP 800-56A) with the ECDH-1PU tag extension (draft-madden-jose-ecdh-1pu-04 §2.3).
import { hash } from "node:crypto";
import { DidcommError, DidcommErrorCode } from "../errors.ts";

const HASH_BITS = 256;
const MAX_KEY_BITS = 1024;
const MAX_FIELD_BYTES = 1 << 16;

/**
 * Derives `keyLenBits` bits from shared secret `z`:
 *   round_i = SHA-256(counter_i || Z || AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo)
 * where AlgorithmID/PartyUInfo/PartyVInfo are 32-bit big-endian length-prefixed, SuppPubInfo is the
 * 32-bit key length in bits, followed (ECDH-1PU key wrapping only) by the length-prefixed `ccTag`.
 * `apu`/`apv` are the base64url-decoded header values (empty when absent).
 */
export function concatKdf(
  z: Uint8Array,
  keyLenBits: number,
  alg: string,
  apu: Uint8Array,
  apv: Uint8Array,
  ccTag?: Uint8Array,
): Uint8Array {
  if (!Number.isInteger(keyLenBits) || keyLenBits <= 0 || keyLenBits % 8 !== 0 || keyLenBits > MAX_KEY_BITS) {
    throw new DidcommError(DidcommErrorCode.Unsupported, "unsupported KDF key length");
  }
  if (z.length === 0 || apu.length > MAX_FIELD_BYTES || apv.length > MAX_FIELD_BYTES) {
    throw new DidcommError(DidcommErrorCode.Malformed, "KDF input out of bounds");
  }
  const algBytes = Buffer.from(alg, "utf8");
  const tagLen = ccTag === undefined ? 0 : 4 + ccTag.length;
  // One buffer for the whole round input; only the counter changes between rounds.
  const input = Buffer.allocUnsafe(4 + z.length + 4 + algBytes.length + 4 + apu.length + 4 + apv.length + 4 + tagLen);
  let o = 4;
  input.set(z, o);
  o += z.length;
  o = writeField(input, o, algBytes);
  o = writeField(input, o, apu);
  o = writeField(input, o, apv);
  input.writeUInt32BE(keyLenBits, o);
  o += 4;
  if (ccTag !== undefined) o = writeField(input, o, ccTag);
  if (o !== input.length) throw new DidcommError(DidcommErrorCode.Malformed, "internal: KDF layout mismatch");

  const keyLenBytes = keyLenBits / 8;
  const rounds = Math.ceil(keyLenBits / HASH_BITS);
  const out = new Uint8Array(rounds * (HASH_BITS / 8));
  for (let i = 1; i <= rounds; i++) {
    input.writeUInt32BE(i, 0);
    out.set(hash("sha256", input, "buffer"), (i - 1) * (HASH_BITS / 8));
  }
  input.fill(0); // the round input contains Z
  return rounds * (HASH_BITS / 8) === keyLenBytes ? out : out.slice(0, keyLenBytes);
}

function writeField(buf: Buffer, offset: number, data: Uint8Array): number {
  buf.writeUInt32BE(data.length, offset);
  buf.set(data, offset + 4);
  return offset + 4 + data.length;
}
