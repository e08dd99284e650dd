// The mailbox operations the protocols need, as an interface: local actors on one node, owner-routed in a cluster.
import type { EnqueueRequest, MailboxStats, StoredMessage } from "../storage/types.ts";
import type { DeliverResult } from "./mailbox-actor.ts";
import type { LiveListener, SubscribeOptions } from "./listeners.ts";

/**
 * Protocol handlers reach mailboxes only through this port, so the same handlers serve a single
 * node (MailboxActor) and a cluster (an implementation that routes each call to the mailbox's owner).
 */
export interface MailboxPort {
  /** Resolves once the message is durable (stored or recognised as a duplicate). */
  deliver(req: EnqueueRequest): Promise<DeliverResult>;
  list(mailbox: string, opts: { limit: number; recipientDid?: string }): Promise<StoredMessage[]>;
  stats(mailbox: string, recipientDid?: string): Promise<MailboxStats>;
  remove(mailbox: string, ids: readonly string[]): Promise<number>;
  /** Live delivery: the listener gets each newly stored message; it stays stored until removed. */
  subscribe(mailbox: string, listener: LiveListener, opts?: SubscribeOptions): Promise<() => void>;
}
