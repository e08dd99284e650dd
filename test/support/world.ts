// Test parties on did:example with fresh keys, plus a static DID resolver and an in-memory secrets store.
// Independent of src/didcomm/did and src/didcomm/secrets so the interop harness does not share the code under test.
import { DidcommError, DidcommErrorCode } from "../../src/didcomm/errors.ts";
import type { DidDocument, DidResolver, Service, VerificationMethod } from "../../src/didcomm/did/types.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart, type Curve, type KeyRef, type PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import type { SecretsResolver } from "../../src/didcomm/secrets/types.ts";

export interface Party {
  did: string;
  doc: DidDocument;
  keys: KeyRef<PrivateJwk>[];
  /** kids by role, in document order. */
  agreement: string[];
  auth: string[];
}

export interface PartySpec {
  x25519?: number;
  p256?: number;
  ed25519?: number;
  p256Sign?: number;
  /** DIDCommMessaging endpoint; `routingKeys` are DID URLs of mediator keys. */
  service?: { uri: string; routingKeys?: string[]; accept?: string[] };
}

/** Builds did:example:<name> with the requested keys (JsonWebKey2020, absolute kids). */
export function makeParty(name: string, spec: PartySpec = {}): Party {
  const did = `did:example:${name}`;
  const vms: VerificationMethod[] = [];
  const keys: KeyRef<PrivateJwk>[] = [];
  const agreement: string[] = [];
  const auth: string[] = [];
  const add = (crv: Curve, count: number, label: string, into: string[]) => {
    for (let i = 1; i <= count; i++) {
      const kid = `${did}#${label}-${i}`;
      const jwk = generateJwk(crv);
      vms.push({ id: kid, type: "JsonWebKey2020", controller: did, publicKeyJwk: { ...publicPart(jwk) } });
      keys.push({ kid, jwk });
      into.push(kid);
    }
  };
  add("X25519", spec.x25519 ?? 1, "x25519", agreement);
  add("P-256", spec.p256 ?? 0, "p256", agreement);
  add("Ed25519", spec.ed25519 ?? 1, "ed25519", auth);
  add("P-256", spec.p256Sign ?? 0, "p256sig", auth);
  const service: Service[] = [];
  if (spec.service) {
    service.push({
      id: `${did}#didcomm`,
      type: "DIDCommMessaging",
      serviceEndpoint: {
        uri: spec.service.uri,
        accept: spec.service.accept ?? ["didcomm/v2"],
        routingKeys: spec.service.routingKeys ?? [],
      },
    });
  }
  const doc: DidDocument = {
    "@context": ["https://www.w3.org/ns/did/v1"],
    id: did,
    verificationMethod: vms,
    authentication: [...auth],
    assertionMethod: [...auth],
    keyAgreement: [...agreement],
    service,
  };
  return { did, doc, keys, agreement, auth };
}

/** Resolves only the documents it was given; anything else is DidNotResolved (as a real resolver would say). */
export class DocResolver implements DidResolver {
  private readonly docs = new Map<string, DidDocument>();
  constructor(docs: DidDocument[]) {
    for (const d of docs) this.docs.set(d.id, d);
  }
  add(doc: DidDocument): void {
    this.docs.set(doc.id, doc);
  }
  async resolve(did: string): Promise<DidDocument> {
    const doc = this.docs.get(did);
    if (!doc) throw new DidcommError(DidcommErrorCode.DidNotResolved, "DID not known to test resolver");
    return doc;
  }
}

/** Secrets held in a map, by kid. */
export class KeySecrets implements SecretsResolver {
  private readonly keys = new Map<string, KeyRef<PrivateJwk>>();
  constructor(keys: KeyRef<PrivateJwk>[] = []) {
    for (const k of keys) this.keys.set(k.kid, k);
  }
  get(kid: string): KeyRef<PrivateJwk> | undefined {
    return this.keys.get(kid);
  }
  has(kids: readonly string[]): string[] {
    return kids.filter((k) => this.keys.has(k));
  }
}
