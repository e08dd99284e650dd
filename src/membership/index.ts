// Public surface of membership: gossip failure detector, transports, partition leases with fencing, ownership wiring.
export type { AnnouncedState, MemberState, NodeLoad, Heartbeat, SuspectNotice, MemberInfo, MembershipView } from "./types.ts";
export { SUBJECT_HEARTBEAT, SUBJECT_SUSPECT, pingSubject, checkNodeId, NODE_ID_RE, ZERO_LOAD } from "./types.ts";
export { encodeHeartbeat, decodeHeartbeat, encodeSuspect, decodeSuspect, MAX_GOSSIP_BYTES } from "./codec.ts";
export type { GossipTransport, PingHandler, PingRequest, Unsubscribe } from "./transport.ts";
export { MemoryGossipHub } from "./memory-transport.ts";
export { NatsGossipTransport } from "./nats-transport.ts";
export type { MembershipOptions } from "./options.ts";
export { Membership } from "./membership.ts";
export type { LeaseStore, LeaseValue, LeaseBucketOptions } from "./lease-store.ts";
export {
  LeaseConflictError,
  LeaseTimeoutError,
  NatsLeaseStore,
  openNatsLeaseStore,
  encodeLease,
  decodeLease,
  leaseKey,
} from "./lease-store.ts";
export { MemoryLeaseServer, type LinkMode } from "./memory-lease-store.ts";
export type { LeaseManagerOptions, LossReason, OwnershipEvent } from "./lease-options.ts";
export { LeaseManager, FencingViolation } from "./lease-manager.ts";
export { Ownership, type OwnershipOptions } from "./ownership.ts";
