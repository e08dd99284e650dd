// DIDCommMessaging service endpoints from a DID document, normalised to the v2 object form.
import { absoluteRef } from "./document.ts";
import type { DidCommServiceEndpoint, DidDocument, Service } from "./types.ts";

/** Bounds on what we take from an untrusted document. */
const MAX_SERVICES = 32;
const MAX_ENDPOINTS_PER_SERVICE = 16;
const MAX_URI_CHARS = 2048;
const MAX_LIST = 32;

export const DIDCOMM_MESSAGING = "DIDCommMessaging";

function isDidcommType(type: unknown): boolean {
  return type === DIDCOMM_MESSAGING || (Array.isArray(type) && type.includes(DIDCOMM_MESSAGING));
}

/** A list of strings, or undefined when absent or not a bounded list of strings. */
function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_LIST) return undefined;
  const out: string[] = [];
  for (const v of value) {
    if (typeof v !== "string" || v.length === 0 || v.length > MAX_URI_CHARS) return undefined;
    out.push(v);
  }
  return out;
}

function endpoint(uri: unknown, accept: unknown, routingKeys: unknown): DidCommServiceEndpoint | undefined {
  if (typeof uri !== "string" || uri.length === 0 || uri.length > MAX_URI_CHARS) return undefined;
  const out: DidCommServiceEndpoint = { uri };
  const a = stringList(accept);
  if (a !== undefined) out.accept = a;
  const r = stringList(routingKeys);
  if (r !== undefined) out.routingKeys = r;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Endpoints of one service: v2 object, array of v2 objects (or URIs), or legacy string form. */
function endpointsOf(svc: Service): DidCommServiceEndpoint[] {
  const se = svc.serviceEndpoint;
  if (typeof se === "string") {
    // Legacy (DIDComm v2 pre-2022) form: routingKeys/accept sit beside serviceEndpoint.
    const e = endpoint(se, svc.accept, svc.routingKeys);
    return e === undefined ? [] : [e];
  }
  const items = Array.isArray(se) ? se.slice(0, MAX_ENDPOINTS_PER_SERVICE) : [se];
  const out: DidCommServiceEndpoint[] = [];
  for (const item of items) {
    const e = isObject(item) ? endpoint(item.uri, item.accept, item.routingKeys) : endpoint(item, undefined, undefined);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/**
 * The document's DIDCommMessaging endpoints in document order, with absolute service ids. Malformed
 * entries are skipped rather than failing the whole document.
 */
export function didcommServices(doc: DidDocument): { id: string; endpoint: DidCommServiceEndpoint }[] {
  const out: { id: string; endpoint: DidCommServiceEndpoint }[] = [];
  const services = Array.isArray(doc.service) ? doc.service.slice(0, MAX_SERVICES) : [];
  for (const svc of services) {
    if (!isObject(svc) || !isDidcommType(svc.type)) continue;
    const id = typeof svc.id === "string" ? absoluteRef(svc.id, doc.id) : doc.id;
    for (const e of endpointsOf(svc as Service)) out.push({ id, endpoint: e });
  }
  return out;
}
