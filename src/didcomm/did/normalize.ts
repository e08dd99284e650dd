// Validates an untrusted DID document (did:web, did:peer:4) into our DidDocument shape, with bounds.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { absoluteRef } from "./document.ts";
import type { DidDocument, Service, VerificationMethod } from "./types.ts";

const MAX_METHODS = 64;
const MAX_SERVICES = 32;
const MAX_ALIASES = 16;
const MAX_ID_CHARS = 8192;

function invalid(message: string): never {
  throw new DidcommError(DidcommErrorCode.DidInvalid, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function idString(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_ID_CHARS) invalid(`${what} must be a non-empty string`);
  return v;
}

function method(raw: unknown, did: string): VerificationMethod {
  if (!isObject(raw)) invalid("verification method is not an object");
  const vm: VerificationMethod = {
    id: absoluteRef(idString(raw.id, "verification method id"), did),
    type: idString(raw.type, "verification method type"),
    controller: raw.controller === undefined ? did : idString(raw.controller, "verification method controller"),
  };
  if (raw.publicKeyJwk !== undefined) {
    if (!isObject(raw.publicKeyJwk)) invalid("publicKeyJwk is not an object");
    vm.publicKeyJwk = raw.publicKeyJwk;
  }
  if (raw.publicKeyMultibase !== undefined) vm.publicKeyMultibase = idString(raw.publicKeyMultibase, "publicKeyMultibase");
  if (raw.publicKeyBase58 !== undefined) vm.publicKeyBase58 = idString(raw.publicKeyBase58, "publicKeyBase58");
  return vm;
}

function relationship(raw: unknown, did: string, what: string): (string | VerificationMethod)[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_METHODS) invalid(`${what} must be a bounded array`);
  return raw.map((e) => (typeof e === "string" ? absoluteRef(idString(e, what), did) : method(e, did)));
}

/**
 * Builds a DidDocument for `did` from parsed JSON. `expectId`: the document must carry exactly this id
 * (did:web); otherwise the id is set to `did` (did:peer:4 input documents carry none). Relative ids
 * and references become absolute so kids compare as strings.
 */
export function normalizeDocument(raw: unknown, did: string, opts: { expectId: boolean; alsoKnownAs?: string[] }): DidDocument {
  if (!isObject(raw)) invalid("DID document is not a JSON object");
  if (opts.expectId && raw.id !== did) invalid("DID document id does not match the DID");
  const vms = raw.verificationMethod === undefined ? [] : raw.verificationMethod;
  if (!Array.isArray(vms) || vms.length > MAX_METHODS) invalid("verificationMethod must be a bounded array");
  const services = raw.service === undefined ? [] : raw.service;
  if (!Array.isArray(services) || services.length > MAX_SERVICES) invalid("service must be a bounded array");
  const aliases: string[] = [];
  if (raw.alsoKnownAs !== undefined) {
    if (!Array.isArray(raw.alsoKnownAs) || raw.alsoKnownAs.length > MAX_ALIASES) invalid("alsoKnownAs must be a bounded array");
    for (const a of raw.alsoKnownAs) aliases.push(idString(a, "alsoKnownAs entry"));
  }
  for (const a of opts.alsoKnownAs ?? []) if (!aliases.includes(a)) aliases.push(a);
  const doc: DidDocument = {
    id: did,
    verificationMethod: vms.map((v) => method(v, did)),
    authentication: relationship(raw.authentication, did, "authentication"),
    keyAgreement: relationship(raw.keyAgreement, did, "keyAgreement"),
    service: services.map((s): Service => {
      if (!isObject(s)) invalid("service is not an object");
      const type = s.type;
      const typeOk = typeof type === "string" || (Array.isArray(type) && type.every((t) => typeof t === "string"));
      if (!typeOk) invalid("service type must be a string or array of strings");
      return { ...s, id: s.id === undefined ? did : absoluteRef(idString(s.id, "service id"), did), type: type as string | string[], serviceEndpoint: s.serviceEndpoint };
    }),
  };
  if (raw["@context"] !== undefined) doc["@context"] = raw["@context"];
  if (aliases.length > 0) doc.alsoKnownAs = aliases;
  if (raw.assertionMethod !== undefined) doc.assertionMethod = relationship(raw.assertionMethod, did, "assertionMethod");
  if (raw.controller !== undefined) {
    const c = raw.controller;
    if (typeof c === "string" || (Array.isArray(c) && c.every((x) => typeof x === "string"))) doc.controller = c as string | string[];
    else invalid("controller must be a string or array of strings");
  }
  return doc;
}
