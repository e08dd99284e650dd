// Public surface of the mailbox layer: supervised per-mailbox actors over the storage driver.
export * from "./actors/index.ts";
export type { MailboxPort } from "./port.ts";
export { MailboxActor, MAX_MAILBOX_KEY_CHARS, type DeliverResult, type MailboxActorOptions, type MailboxState } from "./mailbox-actor.ts";
export { MailboxError, MailboxErrorCode } from "./errors.ts";
export { ListenerSet, type ListenerCloseReason, type LiveListener, type SubscribeOptions } from "./listeners.ts";
