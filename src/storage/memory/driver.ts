// In-memory StorageDriver: used in tests and as the reference implementation of the storage contract.
import type { StorageDriver } from "../types.ts";
import { Gate } from "../gate.ts";
import { MemoryMediationStore } from "./mediations.ts";
import { MemoryMessageStore } from "./messages.ts";
import { MemoryReplayGuard } from "./replay.ts";

export function createMemoryDriver(): StorageDriver {
  const gate = new Gate();
  return {
    name: "memory",
    messages: new MemoryMessageStore(gate),
    mediations: new MemoryMediationStore(gate),
    replay: new MemoryReplayGuard(gate),
    health: async () => (gate.closed ? { ok: false, detail: "closed" } : { ok: true, detail: "memory" }),
    close: async () => {
      gate.closed = true;
    },
  };
}
