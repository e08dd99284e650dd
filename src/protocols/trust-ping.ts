// Trust Ping 2.0: answer a ping with a ping-response in its thread unless response_requested is false.
import { reply } from "./reply.ts";
import type { Handler, ProtocolSpec } from "./types.ts";
import { PIURI, TYPES } from "./uris.ts";

const onPing: Handler = async (msg, ctx) => {
  // The spec's default is true: only an explicit false suppresses the response.
  if (msg.body.response_requested === false) return [];
  return [reply(msg, ctx, TYPES.pingResponse, {})];
};

export const trustPingProtocol: ProtocolSpec = {
  piuri: PIURI.trustPing,
  roles: ["receiver"],
  handlers: { ping: onPing },
};
