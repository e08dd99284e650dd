// DIDComm v2 plaintext message model: headers, attachments and the constants that name them.

/** Media type of a plaintext DIDComm message (`typ` header, optional on the wire). */
export const PLAINTEXT_TYP = "application/didcomm-plain+json";

export type ReturnRoute = "none" | "all" | "thread";

/** Attachment payload: exactly one of `base64`, `json`, `links` (links require `hash`). */
export interface AttachmentData {
  base64?: string;
  json?: unknown;
  links?: string[];
  /** Multihash / digest of the content; an integrity check, mandatory with `links`. */
  hash?: string;
  /** A JWS over the content (general JSON object or compact string). */
  jws?: unknown;
}

export interface Attachment {
  id?: string;
  description?: string;
  filename?: string;
  media_type?: string;
  format?: string;
  lastmod_time?: number;
  byte_count?: number;
  data: AttachmentData;
}

/**
 * A DIDComm v2 plaintext message. Unknown (custom) headers are preserved as-is through the
 * index signature; the listed ones are validated by `parseMessage`.
 */
export interface Message {
  id: string;
  type: string;
  typ?: string;
  from?: string;
  to?: string[];
  thid?: string;
  pthid?: string;
  /** Seconds since the epoch. */
  created_time?: number;
  /** Seconds since the epoch. */
  expires_time?: number;
  /** Compact JWT announcing a DID rotation (see from-prior.ts). */
  from_prior?: string;
  body: Record<string, unknown>;
  attachments?: Attachment[];
  return_route?: ReturnRoute;
  please_ack?: string[];
  ack?: string[];
  lang?: string;
  [header: string]: unknown;
}

/** Bounds and policy for `parseMessage`. Every limit applies to untrusted input. */
export interface ParseMessageOptions {
  /** Max number of attachments (default 64). */
  maxAttachments?: number;
  /** Max length (UTF-16 units) of any string header or `to`/ack entry (default 2048). */
  maxHeaderLength?: number;
  /** Max length of the `from_prior` JWT (default 8192). */
  maxFromPriorLength?: number;
  /** Max entries in `to`, `please_ack`, `ack` each (default 100). */
  maxListEntries?: number;
  /** Max number of top-level headers, custom ones included (default 64). */
  maxHeaders?: number;
  /** Millisecond clock; when given, a message whose `expires_time` is in the past is Expired. */
  now?: () => number;
}

export const MESSAGE_DEFAULTS = {
  // A Pickup 3.0 delivery carries one attachment per message and may hold up to 1000 (the storage
  // batch bound); the envelope size limit bounds the cost before parsing reaches this check.
  maxAttachments: 1000,
  maxHeaderLength: 2048,
  maxFromPriorLength: 8192,
  maxListEntries: 100,
  maxHeaders: 64,
} as const;
