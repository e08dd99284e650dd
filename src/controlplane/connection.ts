// Follows a NATS connection's status: connected or not, so a store can stop trusting its cache the moment the link drops.
import type { NatsConnection } from "@nats-io/nats-core";

/** Calls `onChange(false)` on disconnect and `onChange(true)` on reconnect; returns a stop function. */
export function watchConnection(nc: NatsConnection, onChange: (connected: boolean) => void): () => void {
  const statuses = nc.status();
  let stopped = false;
  void (async () => {
    try {
      for await (const s of statuses) {
        if (stopped) break;
        if (s.type === "disconnect") onChange(false);
        else if (s.type === "reconnect") onChange(true);
      }
    } catch {
      // The iterator ends with the connection; nothing to recover.
    }
  })();
  return () => {
    stopped = true;
    // The client's status iterator is a QueuedIterator with stop(); the public type only says AsyncIterable.
    (statuses as { stop?: () => void }).stop?.();
  };
}
