// packEncrypted: anoncrypt or authcrypt (optionally signed first, optionally sender-protected), then routing.
import type { ContentEnc } from "../crypto/content.ts";
import { didOf } from "../did/document.ts";
import { utf8Encode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { encryptAnon } from "../jwe/anoncrypt.ts";
import { encryptAuth } from "../jwe/authcrypt.ts";
import { isDidUrl } from "../message/did-syntax.ts";
import type { Message } from "../message/types.ts";
import { authcryptKeys, recipientAgreementKeys, sameCurveAsFirst } from "./keys.ts";
import { plaintextObject } from "./plaintext.ts";
import { serializeJsonBytes } from "./raw-json.ts";
import { resolveRoute, wrapInForwards } from "./routing.ts";
import { signMessage } from "./signed.ts";
import type { DidcommContext, PackEncryptedOptions, PackEncryptedResult } from "./types.ts";

function mismatch(message: string): never {
  throw new DidcommError(DidcommErrorCode.SenderMismatch, message);
}

/**
 * Encrypts `msg` for `to` (a DID: all its keyAgreement keys of the first curve; or a kid: that key).
 * `opts.from` selects authcrypt, `opts.signBy` signs first, `opts.protectSender` hides the authcrypt
 * sender in an anoncrypt layer, and the result is wrapped in forwards for the recipient's mediators
 * unless `opts.forward` is false.
 */
export async function packEncrypted(
  msg: Message,
  to: string,
  ctx: DidcommContext,
  opts: PackEncryptedOptions = {},
): Promise<PackEncryptedResult> {
  if (!isDidUrl(to)) throw new DidcommError(DidcommErrorCode.DidInvalid, "to is not a DID or DID URL");
  const plain = plaintextObject(msg);
  const toDid = didOf(to);
  if (plain.to !== undefined && !plain.to.includes(toDid)) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, "to is not listed in the message's to header");
  }
  if (opts.from !== undefined) {
    if (!isDidUrl(opts.from)) throw new DidcommError(DidcommErrorCode.DidInvalid, "from is not a DID or DID URL");
    // Authcrypt binds the sender to the message: unpack requires from == skid's DID.
    if (plain.from === undefined) throw new DidcommError(DidcommErrorCode.InvalidMessage, "authcrypt needs the message's from header");
    if (plain.from !== didOf(opts.from)) mismatch("from option is not the message's from");
  }
  if (opts.protectSender === true && opts.from === undefined) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, "protectSender requires from (authcrypt)");
  }
  const anonEnc: ContentEnc | undefined = opts.enc;
  if (opts.from !== undefined && opts.protectSender !== true && anonEnc !== undefined && anonEnc !== "A256CBC-HS512") {
    throw new DidcommError(DidcommErrorCode.Unsupported, "authcrypt supports only A256CBC-HS512");
  }

  const result: Omit<PackEncryptedResult, "packed"> & { packed?: string } = { toKids: [] };
  let payload: Uint8Array;
  if (opts.signBy !== undefined) {
    const signed = await signMessage(plain, opts.signBy, ctx);
    result.signByKid = signed.key.kid;
    payload = utf8Encode(JSON.stringify(signed.jws));
  } else {
    payload = serializeJsonBytes(plain); // splices RawJson attachments (pickup deliveries) without re-serialising them
  }

  const available = await recipientAgreementKeys(ctx, to);
  let envelope: object;
  if (opts.from !== undefined) {
    const { sender, recipients } = await authcryptKeys(ctx, opts.from, available);
    result.fromKid = sender.kid;
    result.toKids = recipients.map((r) => r.kid);
    envelope = encryptAuth(payload, sender, recipients);
    if (opts.protectSender === true) {
      const anonOpts = anonEnc === undefined ? {} : { enc: anonEnc };
      envelope = encryptAnon(utf8Encode(JSON.stringify(envelope)), recipients, anonOpts);
    }
  } else {
    const recipients = sameCurveAsFirst(available);
    result.toKids = recipients.map((r) => r.kid);
    envelope = encryptAnon(payload, recipients, anonEnc === undefined ? {} : { enc: anonEnc });
  }

  if (opts.forward !== false) {
    const route = await resolveRoute(ctx, toDid);
    if (route !== undefined) {
      // Forwards are anoncrypt: reuse the caller's anoncrypt enc, never the authcrypt-only one.
      const forwardEnc = opts.from === undefined || opts.protectSender === true ? anonEnc : undefined;
      envelope = await wrapInForwards(ctx, envelope, toDid, route.routingKeys, forwardEnc);
      result.service = route;
    }
  }
  return { ...result, packed: JSON.stringify(envelope) } as PackEncryptedResult;
}
