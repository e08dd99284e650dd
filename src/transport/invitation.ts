// Out-of-Band 2.0 invitation to request mediation, and its `_oob` URL form.
import { randomUUID } from "node:crypto";
import { b64uDecode, b64uEncode, utf8Decode, utf8Encode } from "../didcomm/encoding/base64url.ts";

export const OOB_INVITATION_TYPE = "https://didcomm.org/out-of-band/2.0/invitation";

export interface OobInvitation {
  readonly typ: "application/didcomm-plain+json";
  readonly type: typeof OOB_INVITATION_TYPE;
  readonly id: string;
  readonly from: string;
  readonly body: {
    readonly goal_code: "request-mediate";
    readonly goal: string;
    readonly label: string;
    readonly accept: readonly ["didcomm/v2"];
  };
}

/** What the transport serves: the invitation and its URL, computed once at start. */
export interface InvitationInfo {
  readonly invitation: OobInvitation;
  readonly url: string;
}

/** Longest `_oob` URL we will parse back (QR codes top out near 3 KB anyway). */
const MAX_OOB_URL_CHARS = 16_384;

export function buildInvitation(opts: { did: string; id?: string; label?: string }): OobInvitation {
  if (typeof opts.did !== "string" || !opts.did.startsWith("did:")) throw new RangeError("invitation needs the mediator DID");
  return Object.freeze({
    typ: "application/didcomm-plain+json",
    type: OOB_INVITATION_TYPE,
    id: opts.id ?? randomUUID(),
    from: opts.did,
    body: Object.freeze({
      goal_code: "request-mediate",
      goal: "Request mediation from this Haven mediator",
      label: opts.label ?? "Haven mediator",
      accept: Object.freeze(["didcomm/v2"]) as readonly ["didcomm/v2"],
    }),
  });
}

/** `publicUrl?_oob=<base64url(JSON)>` (publicUrl has no query, checked by the config). */
export function invitationUrl(publicUrl: string, invitation: OobInvitation): string {
  return `${publicUrl}?_oob=${b64uEncode(utf8Encode(JSON.stringify(invitation)))}`;
}

export function makeInvitationInfo(opts: { did: string; publicUrl: string; id?: string }): InvitationInfo {
  const invitation = buildInvitation(opts);
  return Object.freeze({ invitation, url: invitationUrl(opts.publicUrl, invitation) });
}

/** Decodes the invitation from an `_oob` URL (for clients and tests); throws RangeError when it has none. */
export function parseInvitationUrl(url: string): Record<string, unknown> {
  if (url.length > MAX_OOB_URL_CHARS) throw new RangeError("invitation URL too long");
  const oob = new URL(url).searchParams.get("_oob");
  if (oob === null) throw new RangeError("URL has no _oob parameter");
  const value: unknown = JSON.parse(utf8Decode(b64uDecode(oob, "_oob"), "_oob"));
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new RangeError("_oob is not a JSON object");
  return value as Record<string, unknown>;
}
