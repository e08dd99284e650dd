// Envelopes we could not open: map the DIDComm error to a problem, and find a sender we could tell.
import { didOf } from "../didcomm/did/document.ts";
import { DidcommErrorCode, isDidcommError } from "../didcomm/errors.ts";
import { isDid } from "../didcomm/message/did-syntax.ts";
import { Problems, ProtocolError } from "../protocols/errors.ts";

/** The problem an unpack failure stands for (bad input is 4xx; only resolution trouble is 503). */
export function unpackProblem(e: unknown): ProtocolError {
  if (!isDidcommError(e)) return new ProtocolError(Problems.internal, [], { cause: e });
  switch (e.code) {
    case DidcommErrorCode.TooLarge:
      return new ProtocolError({ ...Problems.invalidMessage, httpStatus: 413, reason: "too_large" }, ["the envelope is too large"], { cause: e });
    case DidcommErrorCode.Malformed:
    case DidcommErrorCode.Unsupported:
      return new ProtocolError(Problems.malformedEnvelope, [], { cause: e });
    case DidcommErrorCode.InvalidMessage:
    case DidcommErrorCode.DidInvalid:
      return new ProtocolError(Problems.invalidMessage, [e.code], { cause: e });
    case DidcommErrorCode.Expired:
      return new ProtocolError(Problems.expired, [], { cause: e });
    case DidcommErrorCode.DidNotResolved:
      return e.retryable
        ? new ProtocolError(Problems.unavailable, [], { cause: e, retryable: true })
        : new ProtocolError(Problems.cryptoFailed, [], { cause: e });
    default:
      return new ProtocolError(Problems.cryptoFailed, [], { cause: e });
  }
}

const MAX_PROTECTED_CHARS = 16_384;

/**
 * The DID an authcrypt envelope claims as sender (its protected `skid`, or `apu`), so a problem
 * report can go back on the same connection. Unverified: it is only ever used as a reply address.
 */
export function claimedSender(bytes: Uint8Array): string | undefined {
  try {
    const env = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as unknown;
    if (env === null || typeof env !== "object") return undefined;
    const prot = (env as Record<string, unknown>).protected;
    if (typeof prot !== "string" || prot.length > MAX_PROTECTED_CHARS) return undefined;
    const header = JSON.parse(Buffer.from(prot, "base64url").toString("utf8")) as Record<string, unknown>;
    let skid = header.skid;
    if (typeof skid !== "string" && typeof header.apu === "string") skid = Buffer.from(header.apu, "base64url").toString("utf8");
    if (typeof skid !== "string") return undefined;
    const did = didOf(skid);
    return isDid(did) ? did : undefined;
  } catch {
    return undefined;
  }
}
