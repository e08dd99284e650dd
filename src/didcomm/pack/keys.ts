// Key selection for pack/unpack: recipient, sender and signer keys from DID documents and our secrets.
import { authenticationKeys, didOf, findVerificationMethod, keyAgreementKeys, vmToJwk } from "../did/document.ts";
import type { DidDocument } from "../did/types.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { isAgreementCurve, type KeyRef, type PrivateJwk } from "../keys/jwk.ts";
import { isDidUrl } from "../message/did-syntax.ts";
import type { DidcommContext } from "./types.ts";

function keyNotFound(message: string): never {
  throw new DidcommError(DidcommErrorCode.KeyNotFound, message);
}

async function resolveDocOf(ctx: DidcommContext, didOrKid: string, what: string): Promise<DidDocument> {
  if (!isDidUrl(didOrKid)) throw new DidcommError(DidcommErrorCode.DidInvalid, `${what} is not a DID or DID URL`);
  return ctx.resolver.resolve(didOf(didOrKid));
}

const isKid = (s: string): boolean => s.includes("#");

/**
 * The key `kid` names among a relationship's keys. Falls back to the document's own lookup so
 * alias kids (did:peer:4 long/short form, legacy did:peer:2 fragments) still match; the result
 * keeps the caller's kid.
 */
function findIn(doc: DidDocument, keys: readonly KeyRef[], kid: string): KeyRef | undefined {
  const direct = keys.find((k) => k.kid === kid);
  if (direct !== undefined) return direct;
  const vm = findVerificationMethod(doc, kid);
  if (vm === undefined) return undefined;
  let jwk;
  try {
    jwk = vmToJwk(vm);
  } catch {
    return undefined;
  }
  const same = keys.find((k) => k.jwk.crv === jwk.crv && k.jwk.x === jwk.x && k.jwk.y === jwk.y);
  return same === undefined ? undefined : { kid, jwk: same.jwk };
}

/**
 * Recipient keyAgreement keys for `to`: the named key when `to` is a kid, else all of the DID's
 * X25519/P-256 keys (callers narrow to one curve). KeyNotFound when there is none.
 */
export async function recipientAgreementKeys(ctx: DidcommContext, to: string): Promise<KeyRef[]> {
  const doc = await resolveDocOf(ctx, to, "recipient");
  const keys = keyAgreementKeys(doc); // already X25519 / P-256 only
  if (isKid(to)) {
    const named = findIn(doc, keys, to);
    if (named === undefined) keyNotFound("recipient kid is not a keyAgreement key of its DID");
    return [named];
  }
  if (keys.length === 0) keyNotFound("recipient DID has no keyAgreement key");
  return keys;
}

/** Anoncrypt recipients: every key on the curve of the first one (a kid narrows to itself). */
export function sameCurveAsFirst(keys: KeyRef[]): KeyRef[] {
  const crv = keys[0]!.jwk.crv;
  return keys.filter((k) => k.jwk.crv === crv);
}

/**
 * Authcrypt key pair: our first held keyAgreement key (of `from`, or the named kid) whose curve
 * some recipient key shares, and the recipient keys on that curve.
 */
export async function authcryptKeys(
  ctx: DidcommContext,
  from: string,
  recipients: KeyRef[],
): Promise<{ sender: KeyRef<PrivateJwk>; recipients: KeyRef[] }> {
  const doc = await resolveDocOf(ctx, from, "sender");
  let kids = keyAgreementKeys(doc).map((k) => k.kid);
  if (isKid(from)) {
    if (!kids.includes(from)) keyNotFound("sender kid is not a keyAgreement key of its DID");
    kids = [from];
  }
  for (const kid of ctx.secrets.has(kids)) {
    const sender = ctx.secrets.get(kid);
    if (sender === undefined || !isAgreementCurve(sender.jwk.crv)) continue;
    const matching = recipients.filter((r) => r.jwk.crv === sender.jwk.crv);
    if (matching.length > 0) return { sender, recipients: matching };
  }
  keyNotFound("no sender keyAgreement secret shares a curve with the recipient keys");
}

/** Our signing key: the named authentication kid, or the first authentication key of the DID we hold. */
export async function signingKey(ctx: DidcommContext, signBy: string): Promise<KeyRef<PrivateJwk>> {
  const doc = await resolveDocOf(ctx, signBy, "signer");
  let kids = authenticationKeys(doc).map((k) => k.kid);
  if (isKid(signBy)) {
    if (!kids.includes(signBy)) keyNotFound("signer kid is not an authentication key of its DID");
    kids = [signBy];
  }
  for (const kid of ctx.secrets.has(kids)) {
    const key = ctx.secrets.get(kid);
    if (key !== undefined && (key.jwk.crv === "Ed25519" || key.jwk.crv === "P-256")) return key;
  }
  keyNotFound("no authentication secret held for the signer");
}

/** Public keyAgreement key named by an authcrypt `skid` (UnknownKid when the DID does not list it). */
export async function senderAgreementKey(ctx: DidcommContext, skid: string): Promise<KeyRef> {
  const doc = await resolveDocOf(ctx, skid, "skid");
  const key = findIn(doc, keyAgreementKeys(doc), skid);
  if (key === undefined) throw new DidcommError(DidcommErrorCode.UnknownKid, "skid is not a keyAgreement key of the sender DID");
  return key;
}

/** Public authentication key named by a JWS signature `kid`. */
export async function signerKey(ctx: DidcommContext, kid: string): Promise<KeyRef> {
  const doc = await resolveDocOf(ctx, kid, "signer kid");
  const key = findIn(doc, authenticationKeys(doc), kid);
  if (key === undefined) throw new DidcommError(DidcommErrorCode.UnknownKid, "signer kid is not an authentication key of its DID");
  return key;
}
