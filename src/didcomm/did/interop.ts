// Rewrites a document into the most widely understood shape: JsonWebKey2020 methods and string refs.
// didcomm-node (SICPA didcomm-rust 0.4) and other older peers do not know the "Multikey" type.
import { absoluteRef, findVerificationMethod, vmToJwk } from "./document.ts";
import { didcommServices } from "./service.ts";
import type { DidDocument, VerificationMethod } from "./types.ts";

/**
 * Same ids and relationships, every usable verification method as JsonWebKey2020 with publicKeyJwk,
 * relationships as absolute id strings, DIDCommMessaging services in v2 object form. Methods whose key
 * cannot be read are dropped.
 */
export function toJwkDocument(doc: DidDocument): DidDocument {
  const methods = new Map<string, VerificationMethod>();
  const add = (vm: VerificationMethod | undefined): string | undefined => {
    if (vm === undefined) return undefined;
    const id = absoluteRef(vm.id, doc.id);
    if (!methods.has(id)) {
      try {
        methods.set(id, { id, type: "JsonWebKey2020", controller: vm.controller ?? doc.id, publicKeyJwk: { ...vmToJwk(vm) } });
      } catch {
        return undefined;
      }
    }
    return id;
  };
  const refs = (list: (string | VerificationMethod)[] | undefined): string[] => {
    const out: string[] = [];
    for (const e of list ?? []) {
      const id = add(typeof e === "string" ? findVerificationMethod(doc, e) : e);
      if (id !== undefined) out.push(id);
    }
    return out;
  };
  for (const vm of doc.verificationMethod) add(vm);
  const keyAgreement = refs(doc.keyAgreement);
  const authentication = refs(doc.authentication);
  return {
    id: doc.id,
    ...(doc.alsoKnownAs === undefined ? {} : { alsoKnownAs: [...doc.alsoKnownAs] }),
    verificationMethod: [...methods.values()],
    keyAgreement,
    authentication,
    service: didcommServices(doc).map((s) => ({ id: s.id, type: "DIDCommMessaging", serviceEndpoint: { ...s.endpoint } })),
  };
}
