// did:peer:2 (DIF peer DID method, numalgo 2): inline keys and abbreviated services; create and resolve.
import { createHash } from "node:crypto";
import { b64uDecode, b64uEncodeJson, utf8Decode } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { isAgreementCurve, type PublicJwk } from "../keys/jwk.ts";
import { jwkToMultikey, multikeyToJwk } from "../keys/multikey.ts";
import { base58Encode } from "./base58.ts";
import type { DidCommServiceEndpoint, DidDocument, Service, VerificationMethod } from "./types.ts";

export const PEER2_PREFIX = "did:peer:2";
/** A mediator DID with a few keys and services is well under 2 KiB; this bounds parsing work. */
export const MAX_PEER2_CHARS = 16_384;
const MAX_ELEMENTS = 64;
const MAX_JSON_DEPTH = 8;

const PURPOSES = {
  A: "assertionMethod",
  E: "keyAgreement",
  V: "authentication",
  I: "capabilityInvocation",
  D: "capabilityDelegation",
} as const;
type KeyPurpose = keyof typeof PURPOSES;

const EXPAND: Record<string, string> = { t: "type", s: "serviceEndpoint", r: "routingKeys", a: "accept" };
const EXPAND_VALUE: Record<string, string> = { dm: "DIDCommMessaging" };

function invalid(message: string, cause?: unknown): never {
  throw new DidcommError(DidcommErrorCode.DidInvalid, message, cause === undefined ? undefined : { cause });
}

/** Reverses the spec's common-string abbreviations, recursively (as the reference implementation does). */
function expand(value: unknown, depth: number): unknown {
  if (depth > MAX_JSON_DEPTH) invalid("did:peer:2 service is nested too deeply");
  if (Array.isArray(value)) return value.map((v) => (v !== null && typeof v === "object" ? expand(v, depth + 1) : v));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = EXPAND[k] ?? k;
    out[key] = v !== null && typeof v === "object" ? expand(v, depth + 1) : v;
  }
  if (typeof out.type === "string") out.type = EXPAND_VALUE[out.type] ?? out.type;
  return out;
}

/** Decodes one "S" element: one service object, or (older encoders) an array of them. */
function decodeServices(encoded: string): Record<string, unknown>[] {
  let text: string;
  try {
    // Unpadded base64url per the spec; some older encoders padded, so trailing "=" is tolerated.
    text = utf8Decode(b64uDecode(encoded.replace(/=+$/, ""), "did:peer:2 service"), "did:peer:2 service");
  } catch (cause) {
    invalid("did:peer:2 service is not valid base64url UTF-8", cause);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    invalid("did:peer:2 service is not valid JSON", cause);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((s) => {
    if (s === null || typeof s !== "object" || Array.isArray(s)) invalid("did:peer:2 service is not a JSON object");
    return expand(s, 0) as Record<string, unknown>;
  });
}

/** did:peer:3 of a did:peer:2: "z" + base58btc(multihash sha2-256 of everything after "did:peer:2"). */
export function peer2To3(did: string): string {
  const digest = createHash("sha256").update(did.slice(PEER2_PREFIX.length)).digest();
  const mh = new Uint8Array(34);
  mh[0] = 0x12;
  mh[1] = 0x20;
  mh.set(digest, 2);
  return "did:peer:3z" + base58Encode(mh);
}

/**
 * Resolves a did:peer:2. Keys become Multikey methods "#key-1", "#key-2", ... in order of appearance
 * (ids written absolute); services without an id get "#service", "#service-1", ...
 */
export function resolvePeer2(did: string): DidDocument {
  if (typeof did !== "string" || !did.startsWith(PEER2_PREFIX + ".")) invalid("not a did:peer:2");
  if (did.length > MAX_PEER2_CHARS) invalid("did:peer:2 is too long");
  const elements = did.slice(PEER2_PREFIX.length + 1).split(".");
  if (elements.length > MAX_ELEMENTS) invalid("did:peer:2 has too many elements");
  const doc: DidDocument = {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    id: did,
    alsoKnownAs: [peer2To3(did)],
    verificationMethod: [],
    authentication: [],
    assertionMethod: [],
    keyAgreement: [],
    service: [],
  };
  const extra: Record<string, string[]> = {};
  let keyIndex = 0;
  let unnamedServices = 0;
  for (const element of elements) {
    const purpose = element[0];
    const body = element.slice(1);
    if (purpose === undefined || body.length === 0) invalid("did:peer:2 has an empty element");
    if (purpose === "S") {
      for (const svc of decodeServices(body)) {
        if (svc.id === undefined) {
          svc.id = unnamedServices === 0 ? "#service" : `#service-${unnamedServices}`;
          unnamedServices++;
        }
        if (typeof svc.id !== "string") invalid("did:peer:2 service id is not a string");
        doc.service.push(svc as Service);
      }
      continue;
    }
    if (!(purpose in PURPOSES)) invalid("did:peer:2 has an unknown purpose code");
    try {
      multikeyToJwk(body); // validate now so a bad key fails resolution, not a later lookup
    } catch (cause) {
      invalid("did:peer:2 contains an invalid key", cause);
    }
    keyIndex++;
    const vm: VerificationMethod = { id: `${did}#key-${keyIndex}`, type: "Multikey", controller: did, publicKeyMultibase: body };
    doc.verificationMethod.push(vm);
    const rel = PURPOSES[purpose as KeyPurpose];
    if (rel === "authentication" || rel === "keyAgreement" || rel === "assertionMethod") doc[rel]!.push(vm.id);
    else (extra[rel] ??= []).push(vm.id);
  }
  return Object.assign(doc, extra);
}

/** Abbreviated encoding of one DIDCommMessaging service, keys in the spec's order (t, s{uri, a, r}). */
function encodeService(ep: DidCommServiceEndpoint): string {
  if (typeof ep.uri !== "string" || ep.uri.length === 0) {
    throw new DidcommError(DidcommErrorCode.Malformed, "service endpoint uri must be a non-empty string");
  }
  const s: Record<string, unknown> = { uri: ep.uri };
  if (ep.accept !== undefined) s.a = ep.accept;
  if (ep.routingKeys !== undefined) s.r = ep.routingKeys;
  return b64uEncodeJson({ t: "dm", s });
}

/**
 * Creates a did:peer:2. Authentication keys (V) come first, then key agreement keys (E), then services,
 * so with one of each the Ed25519 key is "#key-1" and the X25519 key "#key-2" (as in the spec's example).
 */
export function createPeer2(opts: {
  agreementKeys: PublicJwk[];
  authenticationKeys: PublicJwk[];
  services?: DidCommServiceEndpoint[];
}): string {
  const parts: string[] = [PEER2_PREFIX];
  for (const jwk of opts.authenticationKeys) {
    if (jwk.crv === "X25519") throw new DidcommError(DidcommErrorCode.InvalidKey, "an authentication key cannot be X25519");
    parts.push("V" + jwkToMultikey(jwk));
  }
  for (const jwk of opts.agreementKeys) {
    if (!isAgreementCurve(jwk.crv)) throw new DidcommError(DidcommErrorCode.InvalidKey, "a key agreement key must be X25519 or P-256");
    parts.push("E" + jwkToMultikey(jwk));
  }
  if (parts.length === 1) throw new DidcommError(DidcommErrorCode.InvalidKey, "did:peer:2 needs at least one key");
  for (const ep of opts.services ?? []) parts.push("S" + encodeService(ep));
  const did = parts.join(".");
  if (did.length > MAX_PEER2_CHARS) throw new DidcommError(DidcommErrorCode.TooLarge, "did:peer:2 would be too long");
  return did;
}
