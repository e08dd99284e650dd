// The mediator's long-lived identity: one X25519 key agreement key and one Ed25519 authentication key.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { parseJsonObject } from "../encoding/base64url.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { generateJwk } from "../keys/generate.ts";
import { toPrivateJwk, type PrivateJwk } from "../keys/jwk.ts";
import { INSPECT } from "../secrets/redact.ts";

export const IDENTITY_VERSION = 1;
/** An identity file is ~300 bytes; anything much larger is not one. */
export const MAX_IDENTITY_CHARS = 16_384;

/** Holds private keys; its JSON/inspect/string forms are redacted so logging it leaks nothing. */
export class MediatorIdentity {
  readonly keyAgreement: PrivateJwk;
  readonly authentication: PrivateJwk;

  constructor(keyAgreement: PrivateJwk, authentication: PrivateJwk) {
    if (keyAgreement.crv !== "X25519") throw new DidcommError(DidcommErrorCode.InvalidKey, "identity keyAgreement must be X25519");
    if (authentication.crv !== "Ed25519") throw new DidcommError(DidcommErrorCode.InvalidKey, "identity authentication must be Ed25519");
    this.keyAgreement = Object.freeze({ ...keyAgreement });
    this.authentication = Object.freeze({ ...authentication });
    Object.freeze(this);
  }

  toJSON(): Record<string, unknown> {
    return { version: IDENTITY_VERSION, keyAgreement: "[redacted X25519]", authentication: "[redacted Ed25519]" };
  }

  toString(): string {
    return "MediatorIdentity([redacted])";
  }

  [INSPECT](): string {
    return "MediatorIdentity { keyAgreement: [redacted X25519], authentication: [redacted Ed25519] }";
  }
}

export function generateIdentity(): MediatorIdentity {
  return new MediatorIdentity(generateJwk("X25519"), generateJwk("Ed25519"));
}

/** The on-disk form (contains private keys: write only to a 0600 file). */
export function serializeIdentity(id: MediatorIdentity): string {
  const plain = (j: PrivateJwk) => ({ kty: j.kty, crv: j.crv, x: j.x, d: j.d });
  return JSON.stringify({ version: IDENTITY_VERSION, keyAgreement: plain(id.keyAgreement), authentication: plain(id.authentication) }, null, 2) + "\n";
}

/** Checks that `x` is the public key of `d`, so a hand-edited or corrupted file cannot pair mismatched halves. */
function checkPair(jwk: PrivateJwk, what: string): void {
  let x: unknown;
  try {
    const priv = createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, format: "jwk" });
    x = (createPublicKey(priv).export({ format: "jwk" }) as { x?: unknown }).x;
  } catch (cause) {
    throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} is not a valid private key`, { cause });
  }
  if (x !== jwk.x) throw new DidcommError(DidcommErrorCode.InvalidKey, `${what} public part does not match its private key`);
}

/** Parses and validates the on-disk form; errors never include key material. */
export function parseIdentity(json: string): MediatorIdentity {
  if (typeof json !== "string" || json.length > MAX_IDENTITY_CHARS) {
    throw new DidcommError(DidcommErrorCode.Malformed, "identity is not a string of reasonable size");
  }
  const obj = parseJsonObject(json, "identity");
  if (obj.version !== IDENTITY_VERSION) throw new DidcommError(DidcommErrorCode.Unsupported, "identity version is not 1");
  const ka = toPrivateJwk(obj.keyAgreement, "identity keyAgreement");
  const auth = toPrivateJwk(obj.authentication, "identity authentication");
  checkPair(ka, "identity keyAgreement");
  checkPair(auth, "identity authentication");
  return new MediatorIdentity(ka, auth);
}
