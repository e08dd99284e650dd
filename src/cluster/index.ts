// Public surface of the cluster module (partitioning and ring; other cluster pieces export from their own files).
export {
  DEFAULT_PARTITIONS,
  MAX_PARTITIONS,
  MAX_MAILBOX_KEY_BYTES,
  partitionOf,
  checkPartition,
  checkPartitionCount,
  allPartitions,
} from "./partition.ts";
export { PartitionRing, MAX_RING_NODES, type RingOptions } from "./ring.ts";
export * from "./node-cluster.ts";
