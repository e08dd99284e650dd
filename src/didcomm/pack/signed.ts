// Packing a signed message (JWS, General JSON) with the sender's authentication key.
import { didOf } from "../did/document.ts";
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import type { KeyRef, PrivateJwk } from "../keys/jwk.ts";
import { signJws } from "../jws/sign.ts";
import type { JwsGeneral } from "../jws/types.ts";
import type { Message } from "../message/types.ts";
import { signingKey } from "./keys.ts";
import { plaintextObject } from "./plaintext.ts";
import { serializeJsonBytes } from "./raw-json.ts";
import type { DidcommContext } from "./types.ts";

/** Signs `msg` with `signBy` (a DID or an authentication kid); `msg.from` must be that DID. */
export async function packSigned(msg: Message, signBy: string, ctx: DidcommContext): Promise<string> {
  const { jws } = await signMessage(msg, signBy, ctx);
  return JSON.stringify(jws);
}

/** Shared by packSigned and packEncrypted(signBy): returns the JWS object and the key used. */
export async function signMessage(
  msg: Message,
  signBy: string,
  ctx: DidcommContext,
): Promise<{ jws: JwsGeneral; key: KeyRef<PrivateJwk> }> {
  const plain = plaintextObject(msg);
  if (plain.from === undefined) throw new DidcommError(DidcommErrorCode.InvalidMessage, "a signed message needs from");
  if (plain.from !== didOf(signBy)) throw new DidcommError(DidcommErrorCode.SenderMismatch, "signBy is not a key of the message's from");
  const key = await signingKey(ctx, signBy);
  return { jws: signJws(serializeJsonBytes(plain), [key]), key };
}
