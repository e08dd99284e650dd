// Public surface of the control plane: mediations, keylists and replay records in NATS KV, cached, with fallback.
export { KvMediationStore, type ControlPlaneStats } from "./mediation-store.ts";
export { KvReplayGuard, type ReplayGuardStats } from "./replay-guard.ts";
export type { ControlPlaneMode } from "./breaker.ts";
export type { CacheEvent } from "./mediation-cache.ts";
export type { ControlPlaneLog, FallbackOptions, MediationStoreOptions, ReplayGuardOptions } from "./options.ts";
export { mediationKey, recipientKey, replayKey } from "./keys.ts";
