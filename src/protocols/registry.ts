// The protocol router: message type -> handler, with problem reports for unknown types and versions.
import type { Message } from "../didcomm/message/types.ts";
import { discoverFeaturesProtocol } from "./discover-features.ts";
import { Problems, ProtocolError, toProtocolError } from "./errors.ts";
import { mediationProtocol } from "./mediation.ts";
import { pickupProtocol } from "./pickup.ts";
import { buildProblemReport, problemReportProtocol } from "./problem-report.ts";
import { routingProtocol } from "./routing.ts";
import { trustPingProtocol } from "./trust-ping.ts";
import type { Handler, HandlerContext, ProtocolSpec } from "./types.ts";
import { webhooksProtocol } from "./webhooks.ts";
import { parsePiuri, parseType } from "./uris.ts";

export interface DispatchResult {
  /** Plaintext replies, problem reports included. */
  replies: Message[];
  /** Set when the message failed; its report (if any) is in `replies`. */
  error?: ProtocolError;
}

/** Distinct message types whose handler is remembered. */
const MAX_CACHED_TYPES = 256;

interface Family {
  /** major version -> message name -> handler */
  versions: Map<number, Map<string, Handler>>;
  /** "3.0" style, for the unsupported-version report. */
  supported: string[];
}

export class ProtocolRouter {
  readonly #families = new Map<string, Family>();
  readonly #protocols: ProtocolSpec[] = [];
  /** Message type -> handler, for types already resolved (skips the type regex per message). Cleared on register. */
  readonly #byType = new Map<string, Handler>();

  constructor(protocols: readonly ProtocolSpec[]) {
    for (const p of protocols) this.register(p);
  }

  /** Registered protocols, in registration order (Discover Features discloses these). */
  get protocols(): readonly ProtocolSpec[] {
    return this.#protocols;
  }

  register(p: ProtocolSpec): void {
    const { family, major, minor } = parsePiuri(p.piuri);
    let f = this.#families.get(family);
    if (f === undefined) {
      f = { versions: new Map(), supported: [] };
      this.#families.set(family, f);
    }
    if (f.versions.has(major)) throw new Error(`protocol ${family} ${major}.x registered twice`);
    f.versions.set(major, new Map(Object.entries(p.handlers)));
    this.#byType.clear();
    f.supported.push(`${major}.${minor}`);
    this.#protocols.push(p);
  }

  /**
   * Runs the handler for `msg.type`. Never throws: a failure becomes `error` plus a problem report
   * whose pthid is the offending message's thread. Minor versions are compatible (semver): 3.1
   * messages go to the 3.x handlers.
   */
  async dispatch(msg: Message, ctx: HandlerContext): Promise<DispatchResult> {
    try {
      return { replies: await this.#handlerFor(msg)(msg, ctx) };
    } catch (e) {
      const error = toProtocolError(e);
      return { replies: [buildProblemReport(error, ctx, msg)], error };
    }
  }

  #handlerFor(msg: Message): Handler {
    const known = this.#byType.get(msg.type);
    if (known !== undefined) return known;
    const handler = this.#lookup(msg);
    // Only types that resolved are remembered, and only so many (types are sender-chosen strings).
    if (this.#byType.size < MAX_CACHED_TYPES) this.#byType.set(msg.type, handler);
    return handler;
  }

  #lookup(msg: Message): Handler {
    const t = parseType(msg.type);
    const family = t === undefined ? undefined : this.#families.get(t.family);
    if (t === undefined || family === undefined) throw new ProtocolError(Problems.unsupportedProtocol, [msg.type]);
    const handlers = family.versions.get(t.major);
    if (handlers === undefined) throw new ProtocolError(Problems.unsupportedVersion, [t.family, family.supported.join(", ")]);
    const handler = handlers.get(t.name);
    if (handler === undefined) throw new ProtocolError(Problems.unsupportedProtocol, [msg.type]);
    return handler;
  }
}

/** The router with every protocol of milestones #3 and #5 (Haven Webhooks 1.0). */
export function createDefaultRouter(): ProtocolRouter {
  const router: ProtocolRouter = new ProtocolRouter([mediationProtocol, routingProtocol, pickupProtocol, trustPingProtocol, problemReportProtocol, webhooksProtocol]);
  router.register(discoverFeaturesProtocol(() => router.protocols));
  return router;
}
