// Typed request/reply over core NATS: msgpack bodies, bounded sizes, timeouts, and typed errors on both ends.
import { decode, encode } from "@msgpack/msgpack";
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { currentTrace, formatTraceparent, runWithTrace, traceFrom, TRACEPARENT_HEADER } from "../observability/trace-context.ts";
import { ClusterError, ClusterErrorCode, type RemoteErrorInfo } from "./errors.ts";

/** Reply envelope: [1, value] on success, [0, name, code, message, retryable] on failure. */
type Envelope = [1, unknown] | [0, string, string, string, boolean];

/** Default bound on a decoded request or reply (NATS's own max_payload defaults to 1 MiB). */
export const DEFAULT_MAX_RPC_BYTES = 8 * 1024 * 1024;
const MAX_ERROR_TEXT_CHARS = 200;

export interface DecodeLimits {
  maxBytes?: number;
}

function decodeBounded(bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) throw new ClusterError(ClusterErrorCode.BadMessage, `message larger than ${maxBytes} bytes`);
  try {
    return decode(bytes, { maxStrLength: maxBytes, maxBinLength: maxBytes, maxArrayLength: 100_000, maxMapLength: 1_000 });
  } catch (cause) {
    throw new ClusterError(ClusterErrorCode.BadMessage, "message is not valid msgpack", { cause });
  }
}

/** Maps a NATS client error to a ClusterError (by name: the client's classes are not all re-exported). */
export function natsToClusterError(e: unknown, what: string): ClusterError {
  if (e instanceof ClusterError) return e;
  const name = e instanceof Error ? e.name : "";
  const text = e instanceof Error ? e.message : "";
  if (name === "TimeoutError" || /timeout/i.test(text)) return new ClusterError(ClusterErrorCode.Timeout, `${what}: timed out`, { cause: e });
  if (name === "NoRespondersError" || /no responders/i.test(text) || (e as { isNoResponders?: () => boolean })?.isNoResponders?.() === true) {
    return new ClusterError(ClusterErrorCode.NoResponders, `${what}: no responders`, { cause: e });
  }
  if (name === "ClosedConnectionError" || name === "DrainingConnectionError") {
    return new ClusterError(ClusterErrorCode.Closed, `${what}: connection closed`, { cause: e });
  }
  return new ClusterError(ClusterErrorCode.Unavailable, `${what}: request failed`, { cause: e });
}

/**
 * Sends `body` (msgpack) to `subject` and resolves the decoded reply value. Rejects ClusterError:
 * timeout / no_responders / unavailable (retryable), bad_message, or remote_error carrying the
 * remote handler's error name, code and retryability.
 */
export async function rpcRequest<Res>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  opts: { timeoutMs: number; headers?: Readonly<Record<string, string>> } & DecodeLimits,
): Promise<Res> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_RPC_BYTES;
  let reply: Msg;
  try {
    const hdrs = requestHeaders(opts.headers);
    reply = await nc.request(subject, encode(body), hdrs === undefined ? { timeout: opts.timeoutMs } : { timeout: opts.timeoutMs, headers: hdrs });
  } catch (e) {
    throw natsToClusterError(e, `request on ${subject}`);
  }
  const env = decodeBounded(reply.data, maxBytes);
  if (!Array.isArray(env)) throw new ClusterError(ClusterErrorCode.BadMessage, "reply is not an envelope");
  if (env[0] === 1 && env.length === 2) return env[1] as Res;
  if (env[0] === 0 && env.length === 5 && typeof env[1] === "string" && typeof env[2] === "string" && typeof env[3] === "string") {
    const remote: RemoteErrorInfo = { name: env[1], code: env[2], message: env[3].slice(0, MAX_ERROR_TEXT_CHARS), retryable: env[4] === true };
    if (remote.name === "ClusterError" && Object.values(ClusterErrorCode).includes(remote.code as ClusterErrorCode)) {
      // The remote side's own routing verdict (e.g. not_owner) keeps its meaning here.
      throw new ClusterError(remote.code as ClusterErrorCode, remote.message, { retryable: remote.retryable });
    }
    throw new ClusterError(ClusterErrorCode.Remote, `remote handler failed (${remote.name}/${remote.code})`, { remote });
  }
  throw new ClusterError(ClusterErrorCode.BadMessage, "reply envelope has an unknown layout");
}

/** Caller's headers plus the current W3C trace context (so the owner's log lines share the trace id). */
function requestHeaders(extra: Readonly<Record<string, string>> | undefined): MsgHdrs | undefined {
  const trace = currentTrace();
  if (trace === undefined && extra === undefined) return undefined;
  const h = natsHeaders();
  if (extra !== undefined) for (const [k, v] of Object.entries(extra)) h.set(k, v);
  if (trace !== undefined && !h.has(TRACEPARENT_HEADER)) h.set(TRACEPARENT_HEADER, formatTraceparent(trace));
  return h;
}

/** A handler's error as sent back: name, code and retryability survive; anything else becomes `internal`. */
function errorEnvelope(e: unknown): Envelope {
  const err = e as { name?: unknown; code?: unknown; message?: unknown; retryable?: unknown };
  const name = typeof err?.name === "string" ? err.name : "Error";
  const code = typeof err?.code === "string" ? err.code : "internal";
  const message = typeof err?.message === "string" ? err.message.slice(0, MAX_ERROR_TEXT_CHARS) : "failed";
  return [0, name, code, message, err?.retryable === true];
}

export interface RpcServerOptions extends DecodeLimits {
  /** Requests handled at once; beyond that the caller gets `overloaded` at once. Default 1024, 1..100000. */
  maxInFlight?: number;
  /** Called with handler errors that are not ClusterErrors (bugs); never with request contents. */
  onError?: (err: unknown) => void;
}

export interface RpcServer {
  readonly inFlight: number;
  /** Unsubscribes (requests in flight still get their answer). */
  stop(): void;
}

/**
 * Serves `subject`: each request body is decoded (bounded) and given to `handler`; its result (or
 * error) goes back in the reply envelope. Requests without a reply subject are ignored.
 */
export function rpcServe<Req>(nc: NatsConnection, subject: string, handler: (req: Req) => unknown, opts: RpcServerOptions = {}): RpcServer {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_RPC_BYTES;
  const maxInFlight = opts.maxInFlight ?? 1024;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 100_000) throw new RangeError("maxInFlight must be an integer in 1..100000");
  let inFlight = 0;
  const respond = (m: Msg, env: Envelope): void => {
    try {
      m.respond(encode(env));
    } catch (e) {
      opts.onError?.(e); // reply too large for the server, or the connection closed
    }
  };
  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, m) => {
      if (err || !m.reply) return;
      if (inFlight >= maxInFlight) {
        respond(m, errorEnvelope(new ClusterError(ClusterErrorCode.Overloaded, "too many requests in flight")));
        return;
      }
      inFlight++;
      void (async () => {
        try {
          const req = decodeBounded(m.data, maxBytes) as Req;
          // Continue the caller's trace when it sent one: the handler's log lines carry its trace id.
          const traceparent = m.headers?.get(TRACEPARENT_HEADER);
          const value = traceparent ? await runWithTrace(traceFrom(traceparent), () => handler(req)) : await handler(req);
          respond(m, [1, value]);
        } catch (e) {
          if (!(e instanceof ClusterError)) opts.onError?.(e);
          respond(m, errorEnvelope(e));
        } finally {
          inFlight--;
        }
      })();
    },
  });
  return {
    get inFlight() {
      return inFlight;
    },
    stop: () => sub.unsubscribe(),
  };
}
