// The simulation's workload over real nodes: mediation, forwards through any node, pickup with confirmation, live sockets; all recorded.
import type { Random } from "../../src/runtime/random.ts";
import type { MediatorRef } from "../support/agent.ts";
import { Agent, type AgentSocket } from "../support/agent.ts";
import { nodePackEncrypted } from "../support/didcomm-node.ts";
import { nowMs, type DeliveryRecord, type History } from "./history.ts";

const ORG = "https://didcomm.org";
export const T = {
  mediateRequest: `${ORG}/coordinate-mediation/2.0/mediate-request`,
  mediateGrant: `${ORG}/coordinate-mediation/2.0/mediate-grant`,
  keylistUpdate: `${ORG}/coordinate-mediation/2.0/keylist-update`,
  status: `${ORG}/messagepickup/3.0/status`,
  deliveryRequest: `${ORG}/messagepickup/3.0/delivery-request`,
  delivery: `${ORG}/messagepickup/3.0/delivery`,
  messagesReceived: `${ORG}/messagepickup/3.0/messages-received`,
  liveDeliveryChange: `${ORG}/messagepickup/3.0/live-delivery-change`,
  basic: "https://didcomm.org/basicmessage/2.0/message",
} as const;

export interface SimTarget {
  id: string;
  ref: MediatorRef;
}

/** A mediated recipient: `control` talks to the mediator (its DID is the mailbox key); `inbox` is its routed public DID. */
export interface SimRecipient {
  label: string;
  control: Agent;
  inbox: Agent;
}

export class WorkloadError extends Error {
  override name = "WorkloadError";
}

const bodyOf = (m: Record<string, unknown>): Record<string, unknown> => (m.body ?? {}) as Record<string, unknown>;

/** Mediation + keylist through `m` (retried a few times: enrolment happens before the faults, but right after start-up). */
export async function enrolRecipient(m: MediatorRef, label: string, attempts = 5): Promise<SimRecipient> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const control = new Agent();
      const grant = await control.ask(m, control.message(T.mediateRequest, {}, m.did));
      if (grant.type !== T.mediateGrant) throw new WorkloadError(`expected a mediate-grant, got ${String(grant.type)}`);
      const routingDid = bodyOf(grant).routing_did as string;
      const inbox = new Agent([{ uri: routingDid, accept: ["didcomm/v2"] }]);
      const res = await control.ask(m, control.message(T.keylistUpdate, { updates: [{ recipient_did: inbox.did, action: "add" }] }, m.did));
      const updated = bodyOf(res).updated as { result?: string }[] | undefined;
      if (updated?.[0]?.result !== "success") throw new WorkloadError(`keylist-update failed: ${JSON.stringify(bodyOf(res))}`);
      return { label, control, inbox };
    } catch (e) {
      last = e;
      await Bun.sleep(200 * (i + 1)); // back-off between retries of a refused enrolment
    }
  }
  throw new WorkloadError(`could not enrol ${label}: ${String(last)}`);
}

/** One forward (didcomm-node wraps it per the recipient's DID document) POSTed to `via`; recorded with its outcome. */
export async function forwardOnce(h: History, sender: Agent, via: SimTarget, r: SimRecipient, msgId: string): Promise<number | "error"> {
  const msg = sender.message(T.basic, { content: msgId }, r.inbox.did, { return_route: null });
  const { packed } = await nodePackEncrypted(msg, r.inbox.did, sender.env, { from: sender.did, forward: true });
  const sentAtMs = nowMs();
  let status: number | "error";
  let problem: string | undefined;
  try {
    const reply = await sender.post(via.ref.url, packed);
    status = reply.status;
    const code = reply.replies[0]?.message.body as { code?: unknown } | undefined;
    if (typeof code?.code === "string") problem = code.code;
  } catch {
    status = "error";
  }
  h.forwards.push({ msgId, recipient: r.label, via: via.id, status, ...(problem !== undefined ? { problem } : {}), sentAtMs, doneAtMs: nowMs() });
  return status;
}

async function openAttachments(r: SimRecipient, delivery: Record<string, unknown>): Promise<{ storedId: string; msgId: string }[]> {
  const out: { storedId: string; msgId: string }[] = [];
  for (const a of (delivery.attachments ?? []) as { id: string; data: { json?: unknown; base64?: string } }[]) {
    const envelope = a.data.json !== undefined ? JSON.stringify(a.data.json) : Buffer.from(a.data.base64 ?? "", "base64url").toString("utf8");
    const inner = (await r.inbox.unpack(envelope)).message;
    out.push({ storedId: a.id, msgId: String(bodyOf(inner).content) });
  }
  return out;
}

/**
 * delivery-request through `via`; records every message it returns. Returns them, or null when the request failed
 * (a refused or unanswered request proves nothing either way).
 */
export async function pickupOnce(h: History, via: SimTarget, r: SimRecipient, limit: number): Promise<{ storedId: string; msgId: string }[] | null> {
  const requestSentAtMs = nowMs();
  try {
    const reply = await r.control.request(via.ref, r.control.message(T.deliveryRequest, { limit }, via.ref.did));
    const msg = reply.status === 200 ? reply.replies[0]?.message : undefined;
    if (msg === undefined) return null;
    if (msg.type === T.status) return [];
    if (msg.type !== T.delivery) return null;
    const got = await openAttachments(r, msg);
    const atMs = nowMs();
    for (const g of got) h.deliveries.push({ ...g, recipient: r.label, kind: "pickup", node: via.id, requestSentAtMs, atMs });
    return got;
  } catch {
    return null;
  }
}

/** messages-received through `via`; `ok` only when the answer is a status (the mediator confirmed the removal). */
export async function confirmOnce(h: History, via: SimTarget, r: SimRecipient, got: readonly { storedId: string; msgId: string }[]): Promise<boolean> {
  if (got.length === 0) return true;
  const sentAtMs = nowMs();
  let ok = false;
  try {
    const reply = await r.control.request(via.ref, r.control.message(T.messagesReceived, { message_id_list: got.map((g) => g.storedId) }, via.ref.did));
    ok = reply.status === 200 && reply.replies[0]?.message.type === T.status;
  } catch {
    ok = false;
  }
  h.confirmations.push({ recipient: r.label, storedIds: got.map((g) => g.storedId), msgIds: got.map((g) => g.msgId), node: via.id, ok, sentAtMs, doneAtMs: nowMs() });
  return ok;
}

/**
 * Keeps a live WebSocket for `r` until stop(): connects to a node chosen by `random`, turns live mode on, records
 * every pushed delivery; when the socket dies (node killed, paused) it reconnects to another node.
 */
export function liveHolder(
  h: History,
  r: SimRecipient,
  targets: () => readonly SimTarget[],
  random: Random,
  shouldRun: () => boolean = () => true,
): { stop: () => Promise<void>; pushes: () => number; done: Promise<void> } {
  let running = true;
  let pushes = 0;
  let current: AgentSocket | undefined;
  const loop = async (): Promise<void> => {
    while (running && shouldRun()) {
      const ts = targets();
      const via = ts[random.int(ts.length)]!;
      try {
        const ws = await withTimeout(r.control.connect(via.ref), 3_000);
        current = ws;
        ws.send(await r.control.pack(r.control.message(T.liveDeliveryChange, { live_delivery: true }, via.ref.did), via.ref.did));
        while (running && shouldRun() && !ws.isClosed) {
          let raw: string;
          try {
            raw = await ws.nextRaw(1_000);
          } catch {
            if (ws.isClosed) break;
            continue; // no frame this second
          }
          const msg = (await r.control.unpack(raw)).message;
          if (msg.type !== T.delivery) continue;
          const got = await openAttachments(r, msg);
          const atMs = nowMs();
          for (const g of got) {
            const d: DeliveryRecord = { ...g, recipient: r.label, kind: "live", node: via.id, requestSentAtMs: atMs, atMs };
            h.deliveries.push(d);
            pushes++;
          }
        }
        await withTimeout(ws.close(), 2_000).catch(() => {});
      } catch {
        // connection refused or dropped: try another node
      }
      if (running) await Bun.sleep(200 + random.int(300)); // reconnect back-off, not a wait for an event
    }
  };
  const done = loop();
  return {
    done,
    pushes: () => pushes,
    stop: async () => {
      running = false;
      if (current) await withTimeout(current.close(), 2_000).catch(() => {});
      await done;
    },
  };
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WorkloadError(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
