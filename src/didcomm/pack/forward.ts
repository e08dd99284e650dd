// Mediator fast path: unpack an (anoncrypted) Routing 2.0 forward and hand back next + the envelope.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { isJweShape } from "../jwe/parse.ts";
import { parseForward } from "../message/forward.ts";
import { unpack } from "./unpack.ts";
import type { DidcommContext, UnpackForwardResult, UnpackOptions } from "./types.ts";

/**
 * Unpacks `packed` and requires a forward message carrying a JWE (InvalidMessage otherwise). The
 * anoncrypt path performs no resolver calls; `forwarded` is the attached envelope object, not
 * re-serialised (the recipient or next mediator parses it strictly).
 */
export async function unpackForward(
  packed: string | Uint8Array,
  ctx: DidcommContext,
  opts?: UnpackOptions,
): Promise<UnpackForwardResult> {
  const { message, metadata } = await unpack(packed, ctx, opts);
  const { next, forwarded } = parseForward(message);
  if (!isJweShape(forwarded)) throw new DidcommError(DidcommErrorCode.InvalidMessage, "forwarded attachment is not a JWE");
  return { next, forwarded, message, metadata };
}
