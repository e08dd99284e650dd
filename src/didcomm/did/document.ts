// Reading DID documents: DID URL handling, finding verification methods, and turning them into JWKs.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { isAgreementCurve, toPublicJwk, type KeyRef, type PublicJwk } from "../keys/jwk.ts";
import { multibaseToJwk, multikeyToJwk, rawToJwk } from "../keys/multikey.ts";
import { base58Decode } from "./base58.ts";
import type { DidDocument, DidResolver, VerificationMethod } from "./types.ts";

/** Strips the fragment (and any query) from a DID URL, leaving the DID. */
export function didOf(kidOrDid: string): string {
  let end = kidOrDid.length;
  const hash = kidOrDid.indexOf("#");
  if (hash >= 0) end = hash;
  const query = kidOrDid.indexOf("?");
  if (query >= 0 && query < end) end = query;
  return kidOrDid.slice(0, end);
}

/** Makes a relative reference ("#key-1") absolute against the document's DID. */
export function absoluteRef(ref: string, did: string): string {
  return ref.startsWith("#") ? did + ref : ref;
}

/** True when `did` names this document: its id or one of its alsoKnownAs (did:peer:4 short form, did:peer:3). */
function isDocDid(doc: DidDocument, did: string): boolean {
  return did === doc.id || (doc.alsoKnownAs !== undefined && doc.alsoKnownAs.includes(did));
}

/** Splits a (relative or absolute) DID URL into its DID and fragment, or undefined when it has no fragment. */
function splitRef(ref: string, doc: DidDocument): { did: string; fragment: string } | undefined {
  const hash = ref.indexOf("#");
  if (hash < 0 || hash === ref.length - 1) return undefined;
  return { did: hash === 0 ? doc.id : ref.slice(0, hash), fragment: ref.slice(hash + 1) };
}

/** Every verification method of a document: the verificationMethod list and those embedded in relationships. */
function* allMethods(doc: DidDocument): Generator<VerificationMethod> {
  yield* doc.verificationMethod;
  for (const list of [doc.keyAgreement, doc.authentication, doc.assertionMethod]) {
    if (list === undefined) continue;
    for (const entry of list) if (typeof entry === "object") yield entry;
  }
}

/**
 * Finds the verification method a kid or reference names. Matches by fragment when the DID part is the
 * document's id or an alias. For did:peer:2 it also accepts the fragments older peer-did libraries used
 * (the multikey without "z", or its first 8 characters), so their kids keep working.
 */
export function findVerificationMethod(doc: DidDocument, kidOrRef: string): VerificationMethod | undefined {
  const target = splitRef(kidOrRef, doc);
  if (target === undefined || !isDocDid(doc, target.did)) return undefined;
  for (const vm of allMethods(doc)) {
    const own = splitRef(vm.id, doc);
    if (own !== undefined && own.fragment === target.fragment && isDocDid(doc, own.did)) return vm;
  }
  if (doc.id.startsWith("did:peer:2")) {
    for (const vm of allMethods(doc)) {
      const mb = vm.publicKeyMultibase;
      if (mb === undefined || mb.length < 9) continue;
      if (target.fragment === mb.slice(1) || target.fragment === mb.slice(1, 9)) return vm;
    }
  }
  return undefined;
}

const jwkCache = new WeakMap<VerificationMethod, PublicJwk>();

/**
 * The public JWK of a verification method: publicKeyJwk (JsonWebKey2020/JsonWebKey), publicKeyMultibase
 * (Multikey, X25519KeyAgreementKey2020, Ed25519VerificationKey2020) or publicKeyBase58 (the 2018/2019 suites).
 * Results are cached per method object and frozen (resolved documents are long-lived and shared).
 */
export function vmToJwk(vm: VerificationMethod): PublicJwk {
  const cached = jwkCache.get(vm);
  if (cached !== undefined) return cached;
  const jwk = Object.freeze(convert(vm));
  jwkCache.set(vm, jwk);
  return jwk;
}

function convert(vm: VerificationMethod): PublicJwk {
  if (vm === null || typeof vm !== "object") throw new DidcommError(DidcommErrorCode.InvalidKey, "verification method is not an object");
  if (vm.publicKeyJwk !== undefined) return toPublicJwk(vm.publicKeyJwk, "verification method JWK");
  const type = typeof vm.type === "string" ? vm.type : "";
  const implied = impliedCurve(type);
  if (typeof vm.publicKeyMultibase === "string") {
    if (implied === undefined) return multikeyToJwk(vm.publicKeyMultibase);
    return multibaseToJwk(vm.publicKeyMultibase, implied);
  }
  if (typeof vm.publicKeyBase58 === "string") {
    if (implied === undefined) throw new DidcommError(DidcommErrorCode.Unsupported, "publicKeyBase58 with an unsupported verification method type");
    if (vm.publicKeyBase58.length > 64) throw new DidcommError(DidcommErrorCode.InvalidKey, "publicKeyBase58 is too long");
    let raw: Uint8Array;
    try {
      raw = base58Decode(vm.publicKeyBase58, "publicKeyBase58");
    } catch (cause) {
      throw new DidcommError(DidcommErrorCode.InvalidKey, "publicKeyBase58 is not valid base58btc", { cause });
    }
    return rawToJwk(implied, raw);
  }
  throw new DidcommError(DidcommErrorCode.Unsupported, "verification method has no supported public key property");
}

/** The curve a suite-specific verification method type implies; undefined for Multikey/JWK types. */
function impliedCurve(type: string): "X25519" | "Ed25519" | undefined {
  if (type.startsWith("X25519KeyAgreementKey")) return "X25519";
  if (type.startsWith("Ed25519VerificationKey")) return "Ed25519";
  return undefined;
}

type Relationship = "keyAgreement" | "authentication";
const keysCache: Record<Relationship, WeakMap<DidDocument, KeyRef[]>> = {
  keyAgreement: new WeakMap(),
  authentication: new WeakMap(),
};

/**
 * Usable keys of a relationship, as KeyRefs with absolute kids. Entries that dangle, use an unsupported
 * key type or a curve unfit for the purpose are skipped: a document may list keys we cannot use.
 */
function relationshipKeys(doc: DidDocument, rel: Relationship): KeyRef[] {
  const cached = keysCache[rel].get(doc);
  if (cached !== undefined) return cached;
  const out: KeyRef[] = [];
  const list = Array.isArray(doc[rel]) ? doc[rel] : [];
  for (const entry of list) {
    const vm = typeof entry === "string" ? findVerificationMethod(doc, entry) : entry;
    if (vm === undefined || typeof vm.id !== "string") continue;
    let jwk: PublicJwk;
    try {
      jwk = vmToJwk(vm);
    } catch {
      continue;
    }
    const usable = rel === "keyAgreement" ? isAgreementCurve(jwk.crv) : jwk.crv !== "X25519";
    if (!usable) continue;
    const kid = typeof entry === "string" ? absoluteRef(entry, doc.id) : absoluteRef(vm.id, doc.id);
    out.push(Object.freeze({ kid, jwk }));
  }
  Object.freeze(out);
  keysCache[rel].set(doc, out);
  return out;
}

/** The document's key agreement keys (X25519 / P-256) in document order. */
export function keyAgreementKeys(doc: DidDocument): KeyRef[] {
  return relationshipKeys(doc, "keyAgreement");
}

/** The document's authentication keys (Ed25519 / P-256) in document order. */
export function authenticationKeys(doc: DidDocument): KeyRef[] {
  return relationshipKeys(doc, "authentication");
}

/** Resolves a DID URL to its public key; UnknownKid when the document has no such (usable) method. */
export async function resolveKey(resolver: DidResolver, didUrl: string): Promise<KeyRef> {
  if (typeof didUrl !== "string" || didUrl.indexOf("#") <= 0) {
    throw new DidcommError(DidcommErrorCode.UnknownKid, "key id is not an absolute DID URL with a fragment");
  }
  const doc = await resolver.resolve(didOf(didUrl));
  const vm = findVerificationMethod(doc, didUrl);
  if (vm === undefined) throw new DidcommError(DidcommErrorCode.UnknownKid, "key id not found in the DID document");
  return { kid: didUrl, jwk: vmToJwk(vm) }; // InvalidKey / Unsupported propagate as such
}
