// Worker thread entry of the unpack pool: runs the ordinary unpack() with the mediator's keys and no DID resolver.
import { DidcommErrorCode, isDidcommError } from "../errors.ts";
import type { DidDocument, DidResolver } from "../did/types.ts";
import { unpack } from "../pack/unpack.ts";
import type { DidcommContext } from "../pack/types.ts";
import { MemorySecrets } from "../secrets/memory.ts";
import { attachedObjectOf, factsOfAttached } from "./forward-facts.ts";
import { toWireError, type InitMsg, type Reply, type ToWorker, type UnpackRequest } from "./protocol.ts";

declare const self: Worker;

/** Thrown by the stand-in resolver: this envelope needs DID resolution, which only the main thread has. */
class NeedsResolver extends Error {}

let secrets: MemorySecrets | undefined;
let maxEnvelopeBytes = 0;

function init(msg: InitMsg): void {
  secrets = new MemorySecrets(msg.keys);
  maxEnvelopeBytes = msg.maxEnvelopeBytes;
}

/**
 * Each request gets its own resolver flag, so a concurrent request can never be blamed for another's
 * resolver call. Everything unpack does before its first resolver call is deterministic and needs only
 * our keys, so an answer reached without one is exactly the in-thread answer.
 */
async function handle(req: UnpackRequest, keys: MemorySecrets): Promise<Reply> {
  let resolverCalled = false;
  const resolver: DidResolver = {
    resolve(): Promise<DidDocument> {
      resolverCalled = true;
      return Promise.reject(new NeedsResolver("needs the main thread's resolver"));
    },
  };
  const ctx: DidcommContext = { resolver, secrets: keys, maxEnvelopeBytes };
  try {
    const result = await unpack(req.packed, ctx, req.message === undefined ? {} : { message: req.message });
    if (resolverCalled) return { kind: "main", id: req.id, reason: "resolver" };
    const attached = attachedObjectOf(result.message);
    if (attached === undefined) return { kind: "ok", id: req.id, json: JSON.stringify(result) };
    const forward = factsOfAttached(attached);
    // Sent once, as forward.json: the main thread puts it back (see protocol.ts). The result is ours to change.
    delete (result.message.attachments![0]!.data as Record<string, unknown>).json;
    return { kind: "ok", id: req.id, json: JSON.stringify(result), forward };
  } catch (e) {
    if (resolverCalled) return { kind: "main", id: req.id, reason: "resolver" };
    if (!isDidcommError(e)) return { kind: "main", id: req.id, reason: "internal" };
    // The main thread's secrets may hold keys this worker was not given (added later): let it try.
    if (e.code === DidcommErrorCode.NoRecipient) return { kind: "main", id: req.id, reason: "no_recipient" };
    return { kind: "error", id: req.id, error: toWireError(e) };
  }
}

function post(reply: Reply): void {
  self.postMessage(reply);
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.kind === "init") return init(msg);
  const keys = secrets;
  if (keys === undefined) return post({ kind: "main", id: msg.id, reason: "internal" });
  // handle() never rejects; a failure of its own (e.g. a result JSON cannot express) sends the call home.
  void handle(msg, keys).then(post, () => post({ kind: "main", id: msg.id, reason: "internal" }));
};
