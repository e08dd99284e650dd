// DID document model (the subset DIDComm v2 needs) and the resolver interface.

export interface VerificationMethod {
  id: string; // absolute DID URL: did:...#fragment
  type: string; // JsonWebKey2020, Multikey, X25519KeyAgreementKey2020, Ed25519VerificationKey2020, ...
  controller: string;
  publicKeyJwk?: Record<string, unknown>;
  publicKeyMultibase?: string;
  publicKeyBase58?: string;
}

/** DIDCommMessaging service endpoint, v2 object form. The legacy string form is normalised to this. */
export interface DidCommServiceEndpoint {
  uri: string; // URL (http(s)/ws(s)) or a DID (mediator DID)
  accept?: string[];
  routingKeys?: string[]; // DID URLs (or DIDs)
}

export interface Service {
  id: string;
  type: string | string[];
  serviceEndpoint: unknown;
  [extra: string]: unknown;
}

export interface DidDocument {
  "@context"?: unknown;
  id: string;
  alsoKnownAs?: string[];
  controller?: string | string[];
  verificationMethod: VerificationMethod[];
  authentication: (string | VerificationMethod)[];
  assertionMethod?: (string | VerificationMethod)[];
  keyAgreement: (string | VerificationMethod)[];
  service: Service[];
}

/** Resolves a DID to its document. Throws DidcommError DidInvalid / DidNotResolved (retryable). */
export interface DidResolver {
  resolve(did: string): Promise<DidDocument>;
}
