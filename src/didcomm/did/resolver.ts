// The DID resolver Haven uses: routes by method (peer:0/2/4, key, web, static docs) behind a cache.
import { DidcommError, DidcommErrorCode } from "../errors.ts";
import { CachingResolver, type CachingOptions } from "./cache.ts";
import { didOf } from "./document.ts";
import { resolveDidKey, resolvePeer0 } from "./key.ts";
import { resolvePeer2 } from "./peer2.ts";
import { peer4ShortForm, Peer4Resolver } from "./peer4.ts";
import type { DidDocument, DidResolver } from "./types.ts";
import { WebResolver, type WebResolverOptions } from "./web.ts";

/** No DID we accept is longer (did:peer:4 long forms are the largest). */
const MAX_DID_CHARS = 16_384;

/** Resolves from a fixed set of documents, by id or alsoKnownAs (tests, did:example, pinned peers). */
export class StaticResolver implements DidResolver {
  readonly #docs = new Map<string, DidDocument>();

  constructor(docs: DidDocument[] = []) {
    for (const doc of docs) this.add(doc);
  }

  add(doc: DidDocument): void {
    if (doc === null || typeof doc !== "object" || typeof doc.id !== "string") {
      throw new DidcommError(DidcommErrorCode.DidInvalid, "static DID document has no id");
    }
    this.#docs.set(doc.id, doc);
    for (const aka of doc.alsoKnownAs ?? []) this.#docs.set(aka, doc);
  }

  has(did: string): boolean {
    return this.#docs.has(did);
  }

  async resolve(did: string): Promise<DidDocument> {
    const doc = this.#docs.get(did);
    if (doc === undefined) throw new DidcommError(DidcommErrorCode.DidNotResolved, "DID not known to the static resolver", { retryable: false });
    return doc;
  }
}

export interface ResolverOptions {
  /** did:web options, or false to disable did:web. */
  web?: WebResolverOptions | false;
  /** Shared did:peer:4 resolver (so callers can `remember` long forms); one is created if absent. */
  peer4?: Peer4Resolver;
  /** Documents served as-is; checked before any method (tests, did:example). */
  static?: DidDocument[] | StaticResolver;
  /** Cache options, or false for no cache. */
  cache?: CachingOptions | false;
}

/** Routes a DID to the resolver of its method; unsupported methods are DidInvalid. */
export class MethodRouter implements DidResolver {
  readonly peer4: Peer4Resolver;
  readonly static: StaticResolver;
  readonly #web: WebResolver | undefined;

  constructor(opts: ResolverOptions = {}) {
    this.peer4 = opts.peer4 ?? new Peer4Resolver();
    this.static = opts.static instanceof StaticResolver ? opts.static : new StaticResolver(opts.static ?? []);
    this.#web = opts.web === false ? undefined : new WebResolver(opts.web ?? {});
  }

  async resolve(input: string): Promise<DidDocument> {
    if (typeof input !== "string" || input.length > MAX_DID_CHARS || !input.startsWith("did:")) {
      throw new DidcommError(DidcommErrorCode.DidInvalid, "not a DID (or too long)");
    }
    const did = didOf(input);
    if (this.static.has(did)) return this.static.resolve(did);
    if (did.startsWith("did:peer:2")) return resolvePeer2(did);
    if (did.startsWith("did:peer:4")) return this.peer4.resolveSync(did);
    if (did.startsWith("did:peer:0")) return resolvePeer0(did);
    if (did.startsWith("did:key:")) return resolveDidKey(did);
    if (did.startsWith("did:web:")) {
      if (this.#web === undefined) throw new DidcommError(DidcommErrorCode.DidInvalid, "did:web is disabled");
      return this.#web.resolve(did);
    }
    throw new DidcommError(DidcommErrorCode.DidInvalid, "unsupported DID method");
  }
}

/** The resolver returned by createResolver: cached routing, with access to the parts behind it. */
export interface HavenResolver extends DidResolver {
  readonly router: MethodRouter;
  readonly cache: CachingResolver | undefined;
  /** Records a did:peer:4 long form (e.g. from an invitation) so its short form resolves. */
  rememberPeer4(longForm: string): void;
}

/**
 * Default entry bound of createResolver's cache. A cached did:peer:2 document (frozen, with its
 * imported native keys) costs about 4.5 KB of RSS, so 10k senders cost ~45 MB: keep the working set
 * of active correspondents, not every DID ever seen. A miss on a locally resolvable DID (peer, key)
 * costs a parse and a key import (tens of microseconds, against ~500 us of node CPU per request), not
 * a network round trip. Forwards resolve no client DID (only the mediator's own), so the cache only
 * serves clients' own authcrypt requests (pickup, mediation): 1000 recent clients is plenty.
 */
export const DEFAULT_RESOLVER_CACHE_ENTRIES = 1_000;

/** Creates Haven's resolver: peer:0/2/4, key, web and static documents, cached unless `cache: false`. */
export function createResolver(opts: ResolverOptions = {}): HavenResolver {
  const router = new MethodRouter(opts);
  const cacheOpts: CachingOptions = { maxEntries: DEFAULT_RESOLVER_CACHE_ENTRIES, ...(opts.cache || {}) };
  const cache = opts.cache === false ? undefined : new CachingResolver(router, cacheOpts);
  const target: DidResolver = cache ?? router;
  // A short form may sit in the negative cache from before its long form was seen: clear it then.
  const forgetShortForm = (longForm: string) => cache?.invalidate(peer4ShortForm(longForm));
  return {
    router,
    cache,
    rememberPeer4(longForm: string) {
      router.peer4.remember(longForm);
      forgetShortForm(longForm);
    },
    async resolve(input: string) {
      if (typeof input !== "string") throw new DidcommError(DidcommErrorCode.DidInvalid, "DID must be a string");
      const did = didOf(input);
      const doc = await target.resolve(did);
      if (did.startsWith("did:peer:4") && did.indexOf(":", 10) > 0) forgetShortForm(did);
      return doc;
    },
  };
}
