// An independent did:peer:2 encoder/resolver for the e2e agents (does not share Haven's src/didcomm/did code under test).
import { generateKeyPairSync } from "node:crypto";
import { base58 } from "@scure/base";
import type { NodeDidDoc, NodeDidResolver, NodeSecret, NodeSecretsResolver } from "./didcomm-node.ts";

const CODEC: Record<string, [number, number]> = { Ed25519: [0xed, 0x01], X25519: [0xec, 0x01] };
const CRV_OF: Record<string, string> = { ed01: "Ed25519", ec01: "X25519" };
const ABBREV: Record<string, string> = { t: "type", s: "serviceEndpoint", r: "routingKeys", a: "accept" };
const MAX_DID_CHARS = 16_384;

export interface Peer2Service {
  uri: string;
  accept?: string[];
  routingKeys?: string[];
}

export interface Peer2Identity {
  did: string;
  /** Absolute kids: authentication (Ed25519, "#key-1") and key agreement (X25519, "#key-2"). */
  authKid: string;
  agreementKid: string;
  secrets: NodeSecret[];
}

function multikey(crv: string, x: string): string {
  const prefix = CODEC[crv];
  if (!prefix) throw new Error(`harness: no multicodec for ${crv}`);
  const raw = Buffer.from(x, "base64url");
  return "z" + base58.encode(Uint8Array.from([...prefix, ...raw]));
}

function okpKeyPair(kind: "ed25519" | "x25519"): { pub: Record<string, string>; priv: Record<string, string> } {
  const { privateKey } = generateKeyPairSync(kind as "ed25519");
  const jwk = privateKey.export({ format: "jwk" }) as Record<string, string>;
  return { pub: { kty: "OKP", crv: jwk.crv!, x: jwk.x! }, priv: { kty: "OKP", crv: jwk.crv!, x: jwk.x!, d: jwk.d! } };
}

/** did:peer:2 with an Ed25519 key (V, "#key-1"), an X25519 key (E, "#key-2") and optional DIDCommMessaging services. */
export function newPeer2(services: Peer2Service[] = []): Peer2Identity {
  const auth = okpKeyPair("ed25519");
  const agree = okpKeyPair("x25519");
  const parts = ["did:peer:2", "V" + multikey("Ed25519", auth.pub.x!), "E" + multikey("X25519", agree.pub.x!)];
  for (const s of services) {
    const ep: Record<string, unknown> = { uri: s.uri };
    if (s.accept) ep.a = s.accept;
    if (s.routingKeys) ep.r = s.routingKeys;
    parts.push("S" + Buffer.from(JSON.stringify({ t: "dm", s: ep })).toString("base64url"));
  }
  const did = parts.join(".");
  const authKid = `${did}#key-1`;
  const agreementKid = `${did}#key-2`;
  return {
    did,
    authKid,
    agreementKid,
    secrets: [
      { id: authKid, type: "JsonWebKey2020", privateKeyJwk: auth.priv },
      { id: agreementKid, type: "JsonWebKey2020", privateKeyJwk: agree.priv },
    ],
  };
}

function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[ABBREV[k] ?? k] = expand(val);
  if (out.type === "dm") out.type = "DIDCommMessaging";
  return out;
}

/** Resolves a did:peer:2 into didcomm-node's document shape (keys "#key-N" in order, services "#service", "#service-1"...). */
export function resolvePeer2ForNode(did: string): NodeDidDoc | null {
  if (!did.startsWith("did:peer:2.") || did.length > MAX_DID_CHARS) return null;
  const doc: NodeDidDoc = { id: did, keyAgreement: [], authentication: [], verificationMethod: [], service: [] };
  let keyN = 0;
  let svcN = 0;
  for (const el of did.slice("did:peer:2.".length).split(".")) {
    const purpose = el[0];
    const body = el.slice(1);
    if (purpose === "S") {
      const svc = expand(JSON.parse(Buffer.from(body.replace(/=+$/, ""), "base64url").toString("utf8"))) as Record<string, unknown>;
      const ep = svc.serviceEndpoint as { uri: string; accept?: string[]; routingKeys?: string[] };
      const id = `${did}#service${svcN === 0 ? "" : `-${svcN}`}`;
      svcN++;
      doc.service.push({ id, type: "DIDCommMessaging", serviceEndpoint: { uri: ep.uri, accept: ep.accept ?? ["didcomm/v2"], routingKeys: ep.routingKeys ?? [] } });
      continue;
    }
    if (purpose !== "V" && purpose !== "E" && purpose !== "A") return null;
    if (!body.startsWith("z")) return null;
    const bytes = base58.decode(body.slice(1));
    const crv = CRV_OF[Buffer.from(bytes.subarray(0, 2)).toString("hex")];
    if (!crv) return null;
    keyN++;
    const id = `${did}#key-${keyN}`;
    doc.verificationMethod.push({
      id,
      type: "JsonWebKey2020",
      controller: did,
      publicKeyJwk: { kty: "OKP", crv, x: Buffer.from(bytes.subarray(2)).toString("base64url") },
    });
    if (purpose === "V") doc.authentication.push(id);
    if (purpose === "E") doc.keyAgreement.push(id);
  }
  return doc;
}

/** Resolves any did:peer:2 (every party in the e2e tests uses one); anything else is "not found". */
export const peer2NodeResolver: NodeDidResolver = {
  async resolve(did: string) {
    try {
      return resolvePeer2ForNode(did);
    } catch {
      return null;
    }
  },
};

export function secretsOf(list: NodeSecret[]): NodeSecretsResolver {
  const byId = new Map(list.map((s) => [s.id, s]));
  return {
    async get_secret(id: string) {
      return byId.get(id) ?? null;
    },
    async find_secrets(ids: string[]) {
      return ids.filter((id) => byId.has(id));
    },
  };
}
