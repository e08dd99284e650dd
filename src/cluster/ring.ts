// Consistent-hash assignment of partitions to live nodes (hashring / ketama): join or leave moves few partitions.
import HashRing from "hashring";
import { allPartitions, checkPartition, checkPartitionCount } from "./partition.ts";

export interface RingOptions {
  /** Virtual nodes per member. 200 keeps 64 partitions within about ±25% of an even share for small clusters (40 left one node with 8 and moved 45% on 3->4). */
  vnodes?: number;
}

const DEFAULT_VNODES = 200;
const MAX_VNODES = 1000;
/** Node ids are short config values (NODE_ID); a bound keeps a hostile view from building a huge ring. */
export const MAX_RING_NODES = 1024;
const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * An immutable snapshot: which live node owns each partition. Built from the sorted set of live
 * node ids, so every node holding the same view computes the same assignment. Consistent hashing
 * gives minimal movement: adding a node only moves partitions *to* it (about 1/N of them), and
 * removing a node only moves the partitions it owned.
 */
export class PartitionRing {
  readonly partitions: number;
  /** Sorted, de-duplicated live node ids. */
  readonly nodes: readonly string[];
  readonly #owners: readonly (string | null)[];

  constructor(nodeIds: Iterable<string>, partitions: number, opts: RingOptions = {}) {
    this.partitions = checkPartitionCount(partitions);
    const vnodes = opts.vnodes ?? DEFAULT_VNODES;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VNODES) {
      throw new RangeError(`vnodes must be an integer in 1..${MAX_VNODES}, got ${vnodes}`);
    }
    const nodes = [...new Set(nodeIds)].sort();
    if (nodes.length > MAX_RING_NODES) throw new RangeError(`at most ${MAX_RING_NODES} ring nodes, got ${nodes.length}`);
    for (const id of nodes) {
      if (!NODE_ID_RE.test(id)) throw new RangeError(`invalid node id for the ring: ${JSON.stringify(id.slice(0, 80))}`);
    }
    this.nodes = Object.freeze(nodes);
    if (nodes.length === 0) {
      this.#owners = Object.freeze(new Array<string | null>(partitions).fill(null));
      return;
    }
    const servers: Record<string, { vnodes: number }> = {};
    for (const id of nodes) servers[id] = { vnodes };
    // hashring derives each server's point count as floor(1/n * vnodes * n) unless a server's vnodes
    // differ from the ring default; float rounding then makes the count depend on n (39 at n=7),
    // which breaks minimal movement. A default no server uses forces the exact per-server count.
    // "max cache size" small: each partition is looked up exactly once, here.
    const ring = new HashRing(servers, "md5", { "vnode count": MAX_VNODES + 1, "max cache size": 1 });
    this.#owners = Object.freeze(allPartitions(partitions).map((p) => ring.get(partitionKey(p))));
  }

  /** The owner of `p`, or null when no node is live. */
  ownerOf(p: number): string | null {
    checkPartition(p, this.partitions);
    return this.#owners[p] ?? null;
  }

  /** Partitions owned by `nodeId`, ascending. */
  ownedBy(nodeId: string): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.#owners.length; p++) if (this.#owners[p] === nodeId) out.push(p);
    return out;
  }

  /** Owner per partition index (null when the ring is empty). */
  assignments(): readonly (string | null)[] {
    return this.#owners;
  }

  /** Partitions whose owner differs between `this` and `other` (same partition count required). */
  movedTo(other: PartitionRing): number[] {
    if (other.partitions !== this.partitions) throw new RangeError("rings have different partition counts");
    const out: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.#owners[p] !== other.#owners[p]) out.push(p);
    return out;
  }
}

/** The ring key of a partition (stable: changing it reassigns everything). */
function partitionKey(p: number): string {
  return `partition-${p}`;
}
