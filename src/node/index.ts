// Public surface of the node: the composition root and its periodic expiry sweep.
export { createNode, type HavenNode, type NodeOptions } from "./node.ts";
export { ExpirySweep, type ExpirySweepOptions } from "./expiry-sweep.ts";
