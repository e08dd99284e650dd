// Label values with bounded cardinality: destinations capped with an "other" bucket, protocols from message types.
import { PROTOCOLS, type Protocol } from "./metrics-catalogue.ts";

/** The label every destination past the cap (or unparsable) is folded into. */
export const OTHER = "other";

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443" };

/**
 * The breaker's destination key, `scheme://host:port` (default port made explicit, no path, no credentials),
 * or undefined for anything that is not an absolute http(s)/ws(s) URL.
 */
export function destinationOf(url: string): string | undefined {
  if (url.length > 2048) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const defaultPort = DEFAULT_PORTS[u.protocol];
  if (defaultPort === undefined || u.hostname === "") return undefined;
  return `${u.protocol}//${u.hostname.toLowerCase()}:${u.port === "" ? defaultPort : u.port}`;
}

export interface DestinationLabelOptions {
  /** Distinct destinations that get their own label value; later ones share "other". Default 50, 1..1000. */
  maxDestinations?: number;
}

/**
 * First come, first labelled: the first `maxDestinations` distinct destinations keep their own value for the
 * life of the process (a series never changes name), every later one is reported as "other". This bounds
 * the breaker series at (max + 1) x states whatever URLs agents register.
 */
export class DestinationLabels {
  readonly max: number;
  readonly #known = new Set<string>();
  #folded = 0;

  constructor(o: DestinationLabelOptions = {}) {
    const max = o.maxDestinations ?? 50;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw new RangeError("maxDestinations must be an integer in 1..1000");
    this.max = max;
  }

  /** Label value for a destination URL (or an already-normalised `scheme://host:port`). */
  label(url: string): string {
    const d = destinationOf(url);
    if (d === undefined) return OTHER;
    if (this.#known.has(d)) return d;
    if (this.#known.size < this.max) {
      this.#known.add(d);
      return d;
    }
    this.#folded++;
    return OTHER;
  }

  /** Destinations with their own label so far. */
  get size(): number {
    return this.#known.size;
  }

  /** Lookups folded into "other" because the cap was reached (for tests and logs). */
  get folded(): number {
    return this.#folded;
  }
}

const PROTOCOL_SET: ReadonlySet<string> = new Set(PROTOCOLS);
/** Registered protocol names whose label is shorter. */
const ALIASES: Readonly<Record<string, Protocol>> = { messagepickup: "pickup" };
/** `https://didcomm.org/<protocol>/<version>/<message>` and our own `.../haven/<protocol>/...` alike. */
const PIURI = /\/([a-z0-9-]+)\/[0-9]+\.[0-9]+\/[a-z0-9-]+$/i;

/** Protocol label for a DIDComm message type URI or a bare protocol name; unknown ones become "other". */
export function protocolLabel(typeOrName: string): Protocol {
  const name = typeOrName.length > 512 ? "" : (PIURI.exec(typeOrName)?.[1] ?? typeOrName);
  const label = name.toLowerCase().replaceAll("-", "_");
  return ALIASES[label] ?? (PROTOCOL_SET.has(label) ? (label as Protocol) : "other");
}

/** Folds a value outside a fixed set to `fallback` (so a caller bug cannot create a new series). */
export function inSet<T extends string>(set: readonly T[], value: string, fallback: T): T {
  return (set as readonly string[]).includes(value) ? (value as T) : fallback;
}
