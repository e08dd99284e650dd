// A Haven node build with planted bugs (for checkers-catch-bugs.test.ts): patches prototypes, then runs src/main.ts; src/ stays clean.
// SIM_BUGS (comma-separated) picks them:
//   drop-accepts    the journal acknowledges every 3rd forward without storing or publishing it (a 202 that is lost);
//   keep-confirmed  messages-received answers as if it removed the messages but removes nothing (they come back);
//   steal-leases    acquiring a partition lease overwrites a lease another node still holds (no wait for expiry), so
//                   the previous owner keeps serving its older epoch until its next renewal fails;
//   keep-desired    a node never gives up a partition it owns when the ring moves it away (with steal-leases the
//                   two nodes then take it from each other again and again, each serving while the other does);
//   local-breaker   the breaker's shared KV store always fails, so each node falls back to its in-memory breaker and
//                   never reconciles: the nodes decide alone and stay "local" after healing.
import { ClusterMailbox } from "../../../src/cluster/cluster-mailbox.ts";
import type { MailRecord } from "../../../src/replication/record.ts";
import { ReplicatedJournal } from "../../../src/replication/journal.ts";
import { LeaseManager } from "../../../src/membership/lease-manager.ts";
import { NatsLeaseStore } from "../../../src/membership/lease-store.ts";
import { DeliveryError, DeliveryErrorCode } from "../../../src/delivery/errors.ts";
import { KvBreakerStore } from "../../../src/delivery/kv-breaker-store.ts";

const bugs = new Set((process.env.SIM_BUGS ?? "").split(",").filter((b) => b !== ""));

if (bugs.has("drop-accepts")) {
  const accept = ReplicatedJournal.prototype.accept;
  let n = 0;
  ReplicatedJournal.prototype.accept = async function (this: ReplicatedJournal, rec: MailRecord) {
    if (++n % 3 === 0) return "replicated"; // the bug: acknowledged, never stored
    return accept.call(this, rec);
  };
}

if (bugs.has("keep-confirmed")) {
  ClusterMailbox.prototype.remove = async function (_mailbox: string, ids: readonly string[]): Promise<number> {
    return ids.length; // the bug: "removed", but nothing was
  };
}

if (bugs.has("steal-leases")) {
  const get = NatsLeaseStore.prototype.get;
  const create = NatsLeaseStore.prototype.create;
  // The lease manager reads a key before it creates it and skips held ones: the bug's read says every key is free...
  NatsLeaseStore.prototype.get = async function (): Promise<null> {
    return null;
  };
  // ...its create overwrites a held key instead of failing...
  NatsLeaseStore.prototype.create = async function (this: NatsLeaseStore, key: string, value: Uint8Array, timeoutMs: number): Promise<number> {
    const current = await get.call(this, key, timeoutMs).catch(() => null);
    if (current !== null) return this.update(key, value, current.revision, timeoutMs); // the bug: take it over
    return create.call(this, key, value, timeoutMs);
  };
  // ...and batched creates, where the store has them, go through that create one by one.
  Object.defineProperty(NatsLeaseStore.prototype, "createMany", { value: undefined, configurable: true, writable: true });
}

if (bugs.has("keep-desired")) {
  const setDesired = LeaseManager.prototype.setDesired;
  LeaseManager.prototype.setDesired = function (this: LeaseManager, partitions: Iterable<number>): void {
    const kept = this.owned().map((o) => o.partition); // the bug: what it holds stays desired
    setDesired.call(this, [...partitions, ...kept]);
  };
}

if (bugs.has("local-breaker")) {
  const unavailable = (): Promise<never> => Promise.reject(new DeliveryError(DeliveryErrorCode.StoreUnavailable, "planted: shared breaker store unused", { retryable: true }));
  // The bug: every read, write and ping of the shared record fails (the bucket itself is still opened at start).
  KvBreakerStore.prototype.get = unavailable;
  KvBreakerStore.prototype.create = unavailable;
  KvBreakerStore.prototype.update = unavailable;
  KvBreakerStore.prototype.ping = unavailable;
}

console.error(`planted bugs: ${[...bugs].join(",") || "none"}`);
await import("../../../src/main.ts");
