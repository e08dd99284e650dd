// Packing a plaintext message (no protection): validated JSON with the plaintext media type.
import { parseMessage } from "../message/parse.ts";
import { PLAINTEXT_TYP, type Message } from "../message/types.ts";

/** Validates `msg` (InvalidMessage) and serialises it with `typ` set. */
export function packPlaintext(msg: Message): string {
  return JSON.stringify(plaintextObject(msg));
}

export function plaintextObject(msg: Message): Message {
  parseMessage(msg);
  return msg.typ === PLAINTEXT_TYP ? msg : { ...msg, typ: PLAINTEXT_TYP };
}
