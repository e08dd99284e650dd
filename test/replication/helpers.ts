// Shared helpers for the replication tests: records, temp dirs, NATS connections, polling with a deadline.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { MailRecord } from "../../src/replication/index.ts";

export function record(i: number, partition = i % 4, extra: Partial<MailRecord> = {}): MailRecord {
  return {
    id: `msg-${i}`,
    dedupId: `dedup-${i}`,
    mailbox: `did:example:mailbox-${partition}`,
    partition,
    recipientDid: `did:example:recipient-${i % 3}`,
    payload: new TextEncoder().encode(`{"ciphertext":"${i}"}`),
    receivedAtMs: 1_700_000_000_000 + i,
    expiresAtMs: i % 2 === 0 ? null : 1_800_000_000_000 + i,
    ...extra,
  };
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "haven-repl-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A client that keeps reconnecting quickly (tests kill and restart servers). */
export function natsConnect(servers: string | string[]): Promise<NatsConnection> {
  return connect({
    servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 50,
    reconnectJitter: 0,
    pingInterval: 1000,
    timeout: 2000,
  });
}

/** Polls `cond` until true; fails with `what` after the deadline. No fixed sleeps: a short poll interval. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
