// Message type URIs of the protocols Haven speaks, and parsing of a type into family, version and name.
import { FORWARD_TYPE } from "../didcomm/message/forward.ts";

const ORG = "https://didcomm.org";

export const PIURI = {
  mediation: `${ORG}/coordinate-mediation/2.0`,
  routing: `${ORG}/routing/2.0`,
  pickup: `${ORG}/messagepickup/3.0`,
  trustPing: `${ORG}/trust-ping/2.0`,
  discoverFeatures: `${ORG}/discover-features/2.0`,
  reportProblem: `${ORG}/report-problem/2.0`,
} as const;

export const TYPES = {
  mediateRequest: `${PIURI.mediation}/mediate-request`,
  mediateGrant: `${PIURI.mediation}/mediate-grant`,
  mediateDeny: `${PIURI.mediation}/mediate-deny`,
  keylistUpdate: `${PIURI.mediation}/keylist-update`,
  keylistUpdateResponse: `${PIURI.mediation}/keylist-update-response`,
  keylistQuery: `${PIURI.mediation}/keylist-query`,
  keylist: `${PIURI.mediation}/keylist`,
  forward: FORWARD_TYPE,
  statusRequest: `${PIURI.pickup}/status-request`,
  status: `${PIURI.pickup}/status`,
  deliveryRequest: `${PIURI.pickup}/delivery-request`,
  delivery: `${PIURI.pickup}/delivery`,
  messagesReceived: `${PIURI.pickup}/messages-received`,
  liveDeliveryChange: `${PIURI.pickup}/live-delivery-change`,
  ping: `${PIURI.trustPing}/ping`,
  pingResponse: `${PIURI.trustPing}/ping-response`,
  queries: `${PIURI.discoverFeatures}/queries`,
  disclose: `${PIURI.discoverFeatures}/disclose`,
  problemReport: `${PIURI.reportProblem}/problem-report`,
} as const;

export interface ParsedType {
  /** Document URI + protocol name, e.g. "https://didcomm.org/messagepickup". */
  family: string;
  major: number;
  minor: number;
  /** The message name, e.g. "status-request". */
  name: string;
}

// <doc-uri>/<protocol-name>/<major>.<minor>/<message-name>, as in the DIDComm message type URI rules.
const TYPE_RE = /^(.+)\/([A-Za-z0-9._-]+)\/(\d{1,6})\.(\d{1,6})\/([A-Za-z0-9._-]+)$/;
const MAX_TYPE_CHARS = 512;

/** Splits a message type URI; undefined when it does not have the PIURI/name shape. */
export function parseType(type: string): ParsedType | undefined {
  if (type.length > MAX_TYPE_CHARS) return undefined;
  const m = TYPE_RE.exec(type);
  if (m === null) return undefined;
  return { family: `${m[1]}/${m[2]}`, major: Number(m[3]), minor: Number(m[4]), name: m[5]! };
}

/** "https://didcomm.org/messagepickup/3.0" -> its ParsedType without a message name. */
export function parsePiuri(piuri: string): { family: string; major: number; minor: number } {
  const parsed = parseType(`${piuri}/x`);
  if (parsed === undefined) throw new Error(`invalid PIURI ${piuri}`);
  return { family: parsed.family, major: parsed.major, minor: parsed.minor };
}
