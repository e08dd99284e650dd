// Discover Features 2.0: answer `queries` with a `disclose` of the matching protocols (wildcards allowed).
import { invalid } from "./errors.ts";
import { isObject, reply } from "./reply.ts";
import type { Handler, ProtocolSpec } from "./types.ts";
import { PIURI, TYPES } from "./uris.ts";

const MAX_QUERIES = 32;
const MAX_MATCH_CHARS = 256;

/** `*` matches any run of characters; everything else is literal. */
export function wildcardMatches(pattern: string, value: string): boolean {
  const source = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*");
  return new RegExp(`^${source}$`).test(value);
}

/** `protocols` is read per query so the disclosure always reflects the router's registry. */
export function discoverFeaturesProtocol(protocols: () => readonly ProtocolSpec[]): ProtocolSpec {
  const onQueries: Handler = async (msg, ctx) => {
    const queries = msg.body.queries;
    if (!Array.isArray(queries) || queries.length === 0 || queries.length > MAX_QUERIES) {
      invalid(`body.queries must be an array of 1..${MAX_QUERIES} queries`);
    }
    const disclosures: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    for (const q of queries) {
      if (!isObject(q) || typeof q["feature-type"] !== "string" || typeof q.match !== "string" || q.match.length > MAX_MATCH_CHARS) {
        invalid("each query needs a feature-type and a match string");
      }
      // Unrecognised feature types MUST be ignored; Haven discloses protocols only.
      if (q["feature-type"] !== "protocol") continue;
      for (const p of protocols()) {
        if (seen.has(p.piuri) || !wildcardMatches(q.match, p.piuri)) continue;
        seen.add(p.piuri);
        const d: Record<string, unknown> = { "feature-type": "protocol", id: p.piuri };
        if (p.roles !== undefined) d.roles = [...p.roles];
        disclosures.push(d);
      }
    }
    return [reply(msg, ctx, TYPES.disclose, { disclosures })];
  };
  // A disclose sent to us (proactive disclosure) needs no answer.
  const onDisclose: Handler = async () => [];
  return { piuri: PIURI.discoverFeatures, roles: ["responder"], handlers: { queries: onQueries, disclose: onDisclose } };
}

