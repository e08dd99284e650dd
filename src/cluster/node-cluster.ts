// Barrel of the cluster integration pieces (partition.ts / ring.ts are exported by index.ts, owned by membership).
export { ClusterError, ClusterErrorCode, isClusterError, type RemoteErrorInfo } from "./errors.ts";
export { rpcRequest, rpcServe, natsToClusterError, DEFAULT_MAX_RPC_BYTES, type RpcServer, type RpcServerOptions } from "./rpc.ts";
export { ClusterMailbox, dedupIdOf, type ClusterMailboxOptions } from "./cluster-mailbox.ts";
export { PartitionHost, type PartitionHostOptions } from "./partition-host.ts";
export { OwnerEndpoint, type OwnerEndpointOptions } from "./owner-endpoint.ts";
export { LiveSubs, type LiveSubsOptions } from "./live-subs.ts";
export { UsageBoard, USAGE_SUBJECT_PREFIX, type UsageOptions } from "./usage.ts";
export { liveSubject, mailboxSubject, type LiveRequest, type MailboxRequest } from "./mailbox-wire.ts";
