// unpack: peel JWE / JWS layers off an envelope, verify sender consistency, return message + metadata.
import { didOf } from "../did/document.ts";
import { b64uDecode, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import { decryptJwe } from "../jwe/decrypt.ts";
import { isJweShape, parseJwe } from "../jwe/parse.ts";
import { ANON_ALG, type ParsedJwe } from "../jwe/types.ts";
import { isJwsShape, parseJws } from "../jws/parse.ts";
import { verifyJwsSignature } from "../jws/verify.ts";
import { verifyFromPrior } from "../message/from-prior.ts";
import { parseMessage } from "../message/parse.ts";
import type { Message, ParseMessageOptions } from "../message/types.ts";
import { maxEnvelopeBytesOf, payloadObject, readEnvelope } from "./envelope.ts";
import { senderAgreementKey, signerKey } from "./keys.ts";
import type { DidcommContext, UnpackMetadata, UnpackOptions, UnpackResult } from "./types.ts";

/**
 * Layer order is fixed: anoncrypt(authcrypt(signed(plaintext))), each layer optional. `stage` is
 * the last layer opened; a layer may only wrap layers of a later stage, which also bounds nesting.
 */
const Stage = { Outer: 0, Anon: 1, Auth: 2, Signed: 3 } as const;
type Stage = (typeof Stage)[keyof typeof Stage];

interface State {
  stage: Stage;
  meta: UnpackMetadata;
}

type Step = { done: true; message: Message } | { done: false; current: Record<string, unknown> };

function malformed(message: string): DidcommError {
  return new DidcommError(DidcommErrorCode.Malformed, message);
}

function newState(): State {
  return {
    stage: Stage.Outer,
    meta: { encrypted: false, authenticated: false, nonRepudiation: false, anonymousSender: false, sender: { kind: "anonymous" } },
  };
}

/** Anything but a DidcommError escaping a lower layer is a bug or odd input: report it typed. */
function typed(e: unknown): DidcommError {
  return isDidcommError(e) ? e : new DidcommError(DidcommErrorCode.Malformed, "envelope could not be unpacked", { cause: e });
}

/**
 * Unpacks a plaintext, signed or encrypted envelope. Anoncrypt layers and plaintext are handled
 * synchronously; only authcrypt, signatures and from_prior need the resolver (and an await).
 */
export function unpack(packed: string | Uint8Array, ctx: DidcommContext, opts: UnpackOptions = {}): Promise<UnpackResult> {
  try {
    const st = newState();
    const step = advanceSync(readEnvelope(packed, maxEnvelopeBytesOf(ctx)), ctx, opts, st);
    if (step.done && step.message.from_prior === undefined) {
      checkSenders(step.message, st);
      return Promise.resolve({ message: step.message, metadata: st.meta });
    }
    return finishAsync(step, ctx, opts, st).catch((e: unknown) => Promise.reject(typed(e)));
  } catch (e) {
    return Promise.reject(typed(e));
  }
}

async function finishAsync(first: Step, ctx: DidcommContext, opts: UnpackOptions, st: State): Promise<UnpackResult> {
  let step = first;
  while (!step.done) step = advanceSync(await openAsyncLayer(step.current, ctx, st), ctx, opts, st);
  const message = step.message;
  checkSenders(message, st);
  if (message.from_prior !== undefined && opts.verifyFromPrior !== false) {
    const nowMs = opts.checkExpiry === true ? (ctx.now ?? Date.now)() : undefined;
    const verified = await verifyFromPrior(message.from_prior, message.from, ctx.resolver, nowMs);
    st.meta.fromPrior = verified.claims;
    st.meta.fromPriorIssuerKid = verified.issuerKid;
  }
  return { message, metadata: st.meta };
}

/** Opens anoncrypt layers and parses plaintext; stops (done: false) at a layer needing the resolver. */
function advanceSync(obj: Record<string, unknown>, ctx: DidcommContext, opts: UnpackOptions, st: State): Step {
  let current = obj;
  for (;;) {
    if (isJweShape(current)) {
      const jwe = parseJwe(current);
      if (jwe.header.alg !== ANON_ALG) return { done: false, current };
      if (st.stage !== Stage.Outer) throw malformed("anoncrypt must be the outermost layer");
      current = payloadObject(decryptJwe(jwe, recipientKey(jwe, ctx, st)), "decrypted payload");
      st.stage = Stage.Anon;
      st.meta.encrypted = true;
      st.meta.anonymousSender = true;
      st.meta.encAlgAnon = `${jwe.header.alg}+${jwe.header.enc}`;
      continue;
    }
    if (isJwsShape(current)) return { done: false, current };
    return { done: true, message: parseMessage(current, messageOptions(ctx, opts)) };
  }
}

async function openAsyncLayer(current: Record<string, unknown>, ctx: DidcommContext, st: State): Promise<Record<string, unknown>> {
  if (isJweShape(current)) {
    if (st.stage >= Stage.Auth) throw malformed("authcrypt must wrap only a signed or plaintext message");
    const jwe = parseJwe(current);
    const skid = skidOf(jwe);
    const sender = await senderAgreementKey(ctx, skid);
    const payload = payloadObject(decryptJwe(jwe, recipientKey(jwe, ctx, st), sender), "decrypted payload");
    st.stage = Stage.Auth;
    st.meta.encrypted = true;
    st.meta.authenticated = true;
    st.meta.encryptedFromKid = skid;
    st.meta.encAlgAuth = `${jwe.header.alg}+${jwe.header.enc}`;
    return payload;
  }
  if (st.stage >= Stage.Signed) throw malformed("a signed message must contain a plaintext message");
  const jws = parseJws(current);
  const first = jws.signatures[0];
  if (first === undefined) throw malformed("JWS has no signature");
  const signerDid = didOf(first.kid);
  for (let i = 0; i < jws.signatures.length; i++) {
    const sig = jws.signatures[i]!;
    if (didOf(sig.kid) !== signerDid) throw new DidcommError(DidcommErrorCode.SenderMismatch, "JWS signatures are from different DIDs");
    verifyJwsSignature(jws, i, (await signerKey(ctx, sig.kid)).jwk);
  }
  st.stage = Stage.Signed;
  st.meta.authenticated = true;
  st.meta.nonRepudiation = true;
  st.meta.signFrom = first.kid;
  st.meta.signAlg = first.alg;
  return payloadObject(jws.payload, "signed payload");
}

/** The first JWE recipient we hold a key for on the epk's curve (NoRecipient when none). */
function recipientKey(jwe: ParsedJwe, ctx: DidcommContext, st: State) {
  const kids = jwe.recipients.map((r) => r.kid);
  for (const kid of ctx.secrets.has(kids)) {
    const key = ctx.secrets.get(kid);
    if (key === undefined || key.jwk.crv !== jwe.header.epk.crv) continue;
    st.meta.encryptedToKids ??= kids;
    st.meta.decryptedWithKid = kid;
    return key;
  }
  throw new DidcommError(DidcommErrorCode.NoRecipient, "no JWE recipient is a key we hold");
}

function skidOf(jwe: ParsedJwe): string {
  if (jwe.header.skid !== undefined) return jwe.header.skid;
  if (jwe.header.apu === undefined) throw malformed("authcrypt JWE names no sender (skid/apu)");
  return utf8Decode(b64uDecode(jwe.header.apu, "JWE apu"), "JWE apu");
}

function messageOptions(ctx: DidcommContext, opts: UnpackOptions): ParseMessageOptions {
  if (opts.checkExpiry !== true) return opts.message ?? {};
  return { ...opts.message, now: ctx.now ?? Date.now };
}

/** Binds the envelope's proven sender(s) to `from`, and our key to `to`; sets metadata.sender. */
function checkSenders(message: Message, st: State): void {
  const meta = st.meta;
  const mismatch = (what: string) => new DidcommError(DidcommErrorCode.SenderMismatch, what);
  if (meta.encryptedFromKid !== undefined) {
    if (message.from === undefined) throw mismatch("authcrypt message has no from");
    if (didOf(meta.encryptedFromKid) !== message.from) throw mismatch("authcrypt sender is not the message's from");
    meta.sender = { kind: "authcrypt", did: message.from, kid: meta.encryptedFromKid };
  }
  if (meta.signFrom !== undefined) {
    if (message.from === undefined) throw mismatch("signed message has no from");
    if (didOf(meta.signFrom) !== message.from) throw mismatch("signer is not the message's from");
    meta.sender = { kind: "signed", did: message.from, kid: meta.signFrom };
  }
  if (meta.decryptedWithKid !== undefined && message.to !== undefined && !message.to.includes(didOf(meta.decryptedWithKid))) {
    throw new DidcommError(DidcommErrorCode.InvalidMessage, "the recipient key's DID is not listed in to");
  }
}
