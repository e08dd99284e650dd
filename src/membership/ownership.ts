// Wires membership views to the ring and the lease manager: this node leases exactly the partitions the ring gives it.
import { PartitionRing, type RingOptions } from "../cluster/ring.ts";
import type { LeaseManager } from "./lease-manager.ts";
import type { Membership } from "./membership.ts";
import type { MembershipView } from "./types.ts";

export interface OwnershipOptions {
  membership: Membership;
  leases: LeaseManager;
  partitions: number;
  ring?: RingOptions;
  /** Called after each ring rebuild (for routing tables, metrics, logs). */
  onRing?: (ring: PartitionRing, view: MembershipView) => void;
}

/**
 * The ring says who *should* own a partition; the lease says who *does*. Routing may use `ring()` as a
 * hint, but only the lease holder serves (LeaseManager.holds). A draining node is not in `view.live`,
 * so it is given nothing and releases everything.
 */
export class Ownership {
  readonly #o: OwnershipOptions;
  #ring: PartitionRing;
  #unsubscribe: (() => void) | null = null;

  constructor(opts: OwnershipOptions) {
    this.#o = opts;
    this.#ring = new PartitionRing([], opts.partitions, opts.ring);
  }

  ring(): PartitionRing {
    return this.#ring;
  }

  start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#o.membership.onChange((view) => this.#apply(view));
    this.#apply(this.#o.membership.view());
  }

  /** Graceful leave: announce draining (others stop routing here), release every lease, then announce leaving. */
  async drain(): Promise<void> {
    this.#o.membership.setState("draining");
    await this.#o.leases.drain();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  #apply(view: MembershipView): void {
    const ring = new PartitionRing(view.live, this.#o.partitions, this.#o.ring);
    this.#ring = ring;
    this.#o.leases.setDesired(ring.ownedBy(this.#o.membership.nodeId));
    this.#o.onRing?.(ring, view);
  }
}
