// Public API of the secrets store.
export type { SecretsResolver } from "./types.ts";
export { MemorySecrets } from "./memory.ts";
export { redactedKeyRef } from "./redact.ts";
