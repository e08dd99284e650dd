// Adapters that let didcomm-node (SICPA didcomm-rust as WASM) use Haven's DID documents and secrets, plus pack/unpack helpers.
import { Message } from "didcomm-node";
import { p256 } from "@noble/curves/nist.js";
import { base58 } from "@scure/base";
import type { DidDocument, DidResolver, VerificationMethod } from "../../src/didcomm/did/types.ts";
import type { KeyRef, PrivateJwk } from "../../src/didcomm/keys/jwk.ts";
import type { SecretsResolver } from "../../src/didcomm/secrets/types.ts";

/**
 * didcomm-node's view of a DID document (see node_modules/didcomm-node/index.d.ts). Its 0.4.1 parser wants every
 * verification method in `verificationMethod`, relationships as absolute DID URL strings, and the DIDCommMessaging
 * service endpoint in the v2 object form. Its index.d.ts says `routing_keys`, but the parser only reads the spec's
 * `routingKeys` (checked: with `routing_keys` it silently routes nowhere), and the legacy string form is rejected.
 */
export interface NodeDidDoc {
  id: string;
  keyAgreement: string[];
  authentication: string[];
  verificationMethod: NodeVerificationMethod[];
  service: NodeService[];
}
interface NodeVerificationMethod {
  id: string;
  type: "JsonWebKey2020";
  controller: string;
  publicKeyJwk: Record<string, unknown>;
}
interface NodeService {
  id: string;
  type: string;
  serviceEndpoint: { uri: string; accept?: string[]; routingKeys: string[] } | unknown;
}
export interface NodeDidResolver {
  resolve(did: string): Promise<NodeDidDoc | null>;
}
export interface NodeSecret {
  id: string;
  type: "JsonWebKey2020";
  privateKeyJwk: Record<string, unknown>;
}
export interface NodeSecretsResolver {
  get_secret(id: string): Promise<NodeSecret | null>;
  find_secrets(ids: string[]): Promise<string[]>;
}

/** didcomm-node's names for the anoncrypt algorithm combinations. */
export type NodeAnonAlg = "A256cbcHs512EcdhEsA256kw" | "Xc20pEcdhEsA256kw" | "A256gcmEcdhEsA256kw";
export const NODE_ANON_ALG = {
  "A256CBC-HS512": "A256cbcHs512EcdhEsA256kw",
  XC20P: "Xc20pEcdhEsA256kw",
  A256GCM: "A256gcmEcdhEsA256kw",
} as const satisfies Record<string, NodeAnonAlg>;

const MULTICODEC: Record<string, { crv: string; kty: string }> = {
  "ed01": { crv: "Ed25519", kty: "OKP" },
  "ec01": { crv: "X25519", kty: "OKP" },
  "8024": { crv: "P-256", kty: "EC" },
};

function absolute(did: string, ref: string): string {
  return ref.startsWith("#") ? did + ref : ref;
}

/**
 * Independent of Haven's own multikey code on purpose (an interop harness must not share the code under test):
 * JWK passes through, z-base58btc multikeys are decoded here, then everything is presented as JsonWebKey2020.
 */
export function vmToNodeJwk(vm: VerificationMethod): Record<string, unknown> {
  if (vm.publicKeyJwk) {
    const { kid: _kid, d: _d, ...pub } = vm.publicKeyJwk as Record<string, unknown>;
    return pub;
  }
  const mb = vm.publicKeyMultibase;
  if (typeof mb !== "string" || !mb.startsWith("z")) throw new Error(`harness: unsupported VM ${vm.id}`);
  const bytes = base58.decode(mb.slice(1));
  const codec = MULTICODEC[Buffer.from(bytes.subarray(0, 2)).toString("hex")];
  if (!codec) throw new Error(`harness: unknown multicodec in ${vm.id}`);
  const key = bytes.subarray(2);
  if (codec.crv !== "P-256") return { kty: codec.kty, crv: codec.crv, x: Buffer.from(key).toString("base64url") };
  const raw = p256.Point.fromBytes(key).toBytes(false); // 0x04 || x || y
  return {
    kty: "EC",
    crv: "P-256",
    x: Buffer.from(raw.subarray(1, 33)).toString("base64url"),
    y: Buffer.from(raw.subarray(33, 65)).toString("base64url"),
  };
}

/** Converts one of our DID documents into the shape didcomm-node parses. */
export function toNodeDidDoc(doc: DidDocument): NodeDidDoc {
  const vms = new Map<string, NodeVerificationMethod>();
  const add = (vm: VerificationMethod): string => {
    const id = absolute(doc.id, vm.id);
    vms.set(id, { id, type: "JsonWebKey2020", controller: vm.controller || doc.id, publicKeyJwk: vmToNodeJwk(vm) });
    return id;
  };
  for (const vm of doc.verificationMethod ?? []) add(vm);
  const refs = (list: (string | VerificationMethod)[] | undefined): string[] =>
    (list ?? []).map((r) => (typeof r === "string" ? absolute(doc.id, r) : add(r)));
  const keyAgreement = refs(doc.keyAgreement);
  const authentication = refs(doc.authentication);
  const service: NodeService[] = [];
  for (const s of doc.service ?? []) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.includes("DIDCommMessaging")) continue;
    const endpoints = Array.isArray(s.serviceEndpoint) ? s.serviceEndpoint : [s.serviceEndpoint];
    endpoints.forEach((ep, i) => {
      const e = (typeof ep === "string" ? { uri: ep } : ep) as { uri: string; accept?: string[]; routingKeys?: string[] };
      const id = absolute(doc.id, s.id) + (i === 0 ? "" : `-${i}`);
      const serviceEndpoint: { uri: string; accept?: string[]; routingKeys: string[] } = {
        uri: e.uri,
        routingKeys: (e.routingKeys ?? []).map((k) => absolute(doc.id, k)),
      };
      if (e.accept) serviceEndpoint.accept = e.accept;
      service.push({ id, type: "DIDCommMessaging", serviceEndpoint });
    });
  }
  return { id: doc.id, keyAgreement, authentication, verificationMethod: [...vms.values()], service };
}

/** Wraps our async DidResolver: any failure becomes "not found" (null), which is how didcomm-node expects it. */
export function nodeResolver(resolver: DidResolver): NodeDidResolver {
  return {
    async resolve(did: string) {
      try {
        return toNodeDidDoc(await resolver.resolve(did));
      } catch {
        return null;
      }
    },
  };
}

export function toNodeSecret(key: KeyRef<PrivateJwk>): NodeSecret {
  const { kid: _kid, ...jwk } = key.jwk as PrivateJwk & { kid?: string };
  return { id: key.kid, type: "JsonWebKey2020", privateKeyJwk: { ...jwk } };
}

/** Wraps our synchronous SecretsResolver. */
export function nodeSecrets(secrets: SecretsResolver): NodeSecretsResolver {
  return {
    async get_secret(id: string) {
      const key = secrets.get(id);
      return key ? toNodeSecret(key) : null;
    },
    async find_secrets(ids: string[]) {
      return secrets.has(ids);
    },
  };
}

/** Both sides of one didcomm-node party: how it resolves DIDs and which private keys it holds. */
export interface NodeEnv {
  resolver: NodeDidResolver;
  secrets: NodeSecretsResolver;
}
export function nodeEnv(resolver: DidResolver, secrets: SecretsResolver): NodeEnv {
  return { resolver: nodeResolver(resolver), secrets: nodeSecrets(secrets) };
}

/** didcomm-node requires `typ` on the plaintext object; we add it so callers can pass Haven messages. */
function nodeMessage(msg: Record<string, unknown>): Message {
  return new Message({ typ: "application/didcomm-plain+json", ...msg } as never);
}

async function withMessage<T>(msg: Record<string, unknown>, f: (m: Message) => Promise<T>): Promise<T> {
  const m = nodeMessage(msg);
  try {
    return await f(m);
  } finally {
    m.free();
  }
}

export function nodePackPlaintext(msg: Record<string, unknown>, env: NodeEnv): Promise<string> {
  return withMessage(msg, (m) => m.pack_plaintext(env.resolver as never));
}

export async function nodePackSigned(msg: Record<string, unknown>, signBy: string, env: NodeEnv) {
  const [packed, meta] = await withMessage(msg, (m) => m.pack_signed(signBy, env.resolver as never, env.secrets as never));
  return { packed, signByKid: String(meta.sign_by_kid) };
}

export interface NodePackEncryptedOptions {
  from?: string;
  signBy?: string;
  protectSender?: boolean;
  /** didcomm-node defaults to true; we default to false so tests opt in explicitly. */
  forward?: boolean;
  encAlgAnon?: NodeAnonAlg;
  messagingService?: string;
}

export async function nodePackEncrypted(msg: Record<string, unknown>, to: string, env: NodeEnv, opts: NodePackEncryptedOptions = {}) {
  const options: Record<string, unknown> = { forward: opts.forward ?? false, protect_sender: opts.protectSender ?? false };
  if (opts.encAlgAnon) options.enc_alg_anon = opts.encAlgAnon;
  if (opts.messagingService) options.messaging_service = opts.messagingService;
  const [packed, meta] = await withMessage(msg, (m) =>
    m.pack_encrypted(to, opts.from ?? null, opts.signBy ?? null, env.resolver as never, env.secrets as never, options as never),
  );
  return { packed, meta };
}

export interface NodeUnpackResult {
  message: Record<string, unknown>;
  metadata: {
    encrypted: boolean;
    authenticated: boolean;
    non_repudiation: boolean;
    anonymous_sender: boolean;
    re_wrapped_in_forward: boolean;
    encrypted_from_kid?: string | null;
    encrypted_to_kids?: string[] | null;
    sign_from?: string | null;
    enc_alg_auth?: string | null;
    enc_alg_anon?: string | null;
    sign_alg?: string | null;
  };
}

export async function nodeUnpack(packed: string, env: NodeEnv, opts: { unwrapForward?: boolean } = {}): Promise<NodeUnpackResult> {
  const [m, metadata] = await Message.unpack(packed, env.resolver as never, env.secrets as never, {
    unwrap_re_wrapping_forward: opts.unwrapForward ?? false,
  });
  try {
    // as_value() returns a JS object produced by serde; round-trip through JSON to get plain data (no Maps).
    const message = JSON.parse(JSON.stringify(m.as_value())) as Record<string, unknown>;
    return { message, metadata: metadata as NodeUnpackResult["metadata"] };
  } finally {
    m.free();
  }
}

/**
 * If `message` is a forward, the `next` and the attached (still packed) envelope, as didcomm-node parses them;
 * otherwise undefined.
 */
export async function nodeParseForward(packed: string, env: NodeEnv) {
  const [m] = await Message.unpack(packed, env.resolver as never, env.secrets as never, {});
  try {
    // Despite index.d.ts (a ParsedForward class), 0.4.1 returns a plain { msg, next, forwarded_msg } object or null.
    const parsed = m.try_parse_forward() as unknown as { next: string; forwarded_msg: unknown } | null | undefined;
    if (!parsed) return undefined;
    const value = JSON.parse(JSON.stringify(parsed)) as { next: string; forwarded_msg: unknown };
    return { next: value.next, forwarded: value.forwarded_msg as Record<string, unknown> };
  } finally {
    m.free();
  }
}

/** didcomm-node's own forward wrapping: one anoncrypted forward layer per routing key (outermost = first key). */
export function nodeWrapInForward(
  packed: string,
  to: string,
  routingKeys: string[],
  env: NodeEnv,
  encAlgAnon: NodeAnonAlg = "Xc20pEcdhEsA256kw",
  headers: Record<string, string> = {},
): Promise<string> {
  return Message.wrap_in_forward(packed, headers, to, routingKeys, encAlgAnon, env.resolver as never);
}
