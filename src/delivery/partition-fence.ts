// The link from cluster ownership to the delivery pipeline: live lease checks, and the fence delivery runs inside a lease's onLost.

/** Stops delivery for `partition` before its lease can be taken over; must resolve within about `budgetMs`. */
export type PartitionFence = (partition: number, budgetMs: number) => Promise<void>;

/**
 * What cluster mode offers delivery. `owns` answers false from the instant the lease stops serving (before onLost
 * runs), so a call never starts after that; the fence registered here is awaited inside onLost, so a deposed
 * owner's in-flight calls are finished (2xx recorded) or aborted before the next owner can load the partition.
 */
export interface DeliveryOwnershipLink {
  ownedPartitions(): ReadonlySet<number>;
  owns(partition: number): boolean;
  /** One fence at a time; null unregisters (delivery stopped). */
  setFence(fence: PartitionFence | null): void;
}
