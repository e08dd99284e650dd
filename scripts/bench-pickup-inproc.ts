// In-process Message Pickup 3.0 bench: CPU time (process.cpuUsage) per delivery-request / messages-received round, by stage.
// No HTTP: MediatorCore.receive on a real SQLite file. Usage: bun run scripts/bench-pickup-inproc.ts [--messages N] [--batch B]
// [--rounds R]. Prints one line per phase and ends with one JSON line. CPU time is the A/B figure (wall clock is noisy here).
import { deliveryMessage } from "../src/protocols/pickup-messages.ts";
import { packEncrypted, unpack } from "../src/didcomm/pack/index.ts";
import type { Attachment, Message } from "../src/didcomm/message/types.ts";
import type { HandlerContext } from "../src/protocols/types.ts";
import type { StoredMessage } from "../src/storage/types.ts";
import { World } from "../test/mediator/harness.ts";
import { argValue, fmtInt, numberArg } from "./lib/bench.ts";
import { round } from "./lib/proc-stats.ts";

const ORG = "https://didcomm.org";
const T = {
  deliveryRequest: `${ORG}/messagepickup/3.0/delivery-request`,
  delivery: `${ORG}/messagepickup/3.0/delivery`,
  messagesReceived: `${ORG}/messagepickup/3.0/messages-received`,
  status: `${ORG}/messagepickup/3.0/status`,
  mediateRequest: `${ORG}/coordinate-mediation/2.0/mediate-request`,
  keylistUpdate: `${ORG}/coordinate-mediation/2.0/keylist-update`,
};
const opts = {
  messages: numberArg("messages", 10_000, 100, 100_000),
  batch: numberArg("batch", 1000, 1, 1000),
  /** Repetitions of the stage breakdown and its A/B (each on the same first batch, nothing removed). */
  rounds: numberArg("rounds", 15, 1, 100),
  bodyBytes: numberArg("body-bytes", 0, 0, 100_000),
};
const onlyBreakdown = argValue("only", "all") === "breakdown";
/** messages-received by direct mailbox.remove + stats (their CPU split out) instead of through MediatorCore. */
const removeDirect = process.argv.includes("--remove-direct");

/** CPU ms (user + system) spent in `f`, for this whole process (the bench is single-threaded JS). */
async function cpuMs<T>(f: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const c0 = process.cpuUsage();
  const value = await f();
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000, value };
}

const log = (s: string) => console.log(s);

/** The delivery attachment as built before RawJson (the A side of the A/B): parse each stored envelope. */
function legacyAttachment(stored: StoredMessage): Attachment {
  const text = Buffer.from(stored.payload.buffer, stored.payload.byteOffset, stored.payload.byteLength).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const data = json !== null && typeof json === "object" ? { json } : { base64: Buffer.from(text, "utf8").toString("base64url") };
  return { id: stored.id, media_type: "application/didcomm-encrypted+json", data };
}
const world = new World({ driver: "sqlite", limits: { mailboxMaxMessages: 10_000_000, mailboxMaxBytes: 1024 ** 4 } });
try {
  const client = world.mediatedAgent();
  client.ctx = { ...client.ctx, maxEnvelopeBytes: 64 * 1024 * 1024 }; // a 1000-message delivery is ~5 MB
  const sender = world.agent();
  const must = async (type: string, body: Record<string, unknown>) => {
    const { replies } = await world.ask(client, world.message(client, type, body));
    if (replies.length !== 1) throw new Error(`${type}: expected one reply`);
    return replies[0]!;
  };
  await must(T.mediateRequest, {});
  await must(T.keylistUpdate, { updates: [{ recipient_did: client.did, action: "add" }] });

  log(`queueing ${fmtInt(opts.messages)} forwards...`);
  const pad = "x".repeat(opts.bodyBytes);
  for (let i = 0; i < opts.messages; i++) {
    const msg = { id: crypto.randomUUID(), type: `${ORG}/basicmessage/2.0/message`, to: [client.did], body: { content: `pickup ${i}${pad}` } };
    const { packed } = await packEncrypted(msg, client.did, sender.ctx); // anoncrypt, wrapped in a forward to the mediator
    const out = await world.receive(packed);
    if (out.kind !== "accepted") throw new Error(`forward ${i}: ${out.code}`);
  }

  // Stage breakdown on the first batch (nothing removed): list, build delivery, pack, client unpack.
  const handlerCtx = {
    sender: { kind: "authcrypt", did: client.did },
    replyTo: client.did,
    // The mediator's secrets stay inside World: the breakdown packs client -> client (same work: authcrypt, one recipient).
    mediatorDid: client.did,
    transport: { kind: "http" },
    services: { clock: world.clock },
    receivedAtMs: world.clock.nowMs(),
  } as unknown as HandlerContext;
  // A/B in one process, interleaved round by round (the machine is shared: separate runs differ by more than the effect):
  // A = the previous delivery build (JSON.parse of every stored envelope, re-serialised by pack), B = RawJson splicing.
  // Each side ends with a full GC inside its measurement, so the garbage a side makes is charged to that side.
  const samples = { list: [] as number[], a: [] as number[], b: [] as number[], buildB: [] as number[], packB: [] as number[], unpack: [] as number[] };
  let deliveryBytes = 0;
  const packFor = (msg: Message) => packEncrypted(msg, client.did, client.ctx, { from: client.did, forward: false });
  for (let r = 0; r < opts.rounds; r++) {
    const list = await cpuMs(() => world.mailbox.list(client.did, { limit: opts.batch }));
    Bun.gc(true);
    const a = await cpuMs(async () => {
      const packed = await packFor({ ...deliveryMessage(handlerCtx, list.value, { thid: "t" }), attachments: list.value.map(legacyAttachment) });
      Bun.gc(true);
      return packed;
    });
    const b = await cpuMs(async () => {
      const built = await cpuMs(() => deliveryMessage(handlerCtx, list.value, { thid: "t" }));
      const packed = await cpuMs(() => packFor(built.value));
      samples.buildB.push(built.ms);
      samples.packB.push(packed.ms);
      Bun.gc(true);
      return packed.value;
    });
    const opened = await cpuMs(() => unpack(b.value.packed, client.ctx, { message: { maxAttachments: 10_000 } }));
    if (opened.value.message.attachments?.length !== list.value.length) throw new Error("breakdown: attachment count mismatch");
    if (a.value.packed.length !== b.value.packed.length) throw new Error("breakdown: A and B deliveries differ in size");
    samples.list.push(list.ms);
    samples.a.push(a.ms);
    samples.b.push(b.ms);
    samples.unpack.push(opened.ms);
    deliveryBytes = b.value.packed.length;
  }
  const med = (xs: number[]) => round([...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!, 2);
  const stage = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, med(v)]));
  log(
    `breakdown per ${opts.batch}-message delivery (CPU ms, median of ${opts.rounds}): list ${stage.list}; build+pack+GC: ` +
      `A parse+stringify ${stage.a}, B splice ${stage.b} (build ${stage.buildB}, pack ${stage.packB}); client unpack ${stage.unpack}; ` +
      `delivery ${fmtInt(deliveryBytes)} bytes`,
  );

  const figures: Record<string, unknown> = {
    batch: opts.batch,
    messages: opts.messages,
    breakdown_cpu_ms_median: stage,
    delivery_bytes: deliveryBytes,
  };
  if (!onlyBreakdown) {
    // End to end: delivery-request -> delivery, messages-received -> status, through MediatorCore.receive.
    let reqMs = 0;
    let recMs = 0;
    let clientMs = 0;
    let removeMs = 0;
    let statsMs = 0;
    let picked = 0;
    let rounds = 0;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let left = opts.messages; left > 0; rounds++) {
      if (rounds > opts.messages) throw new Error("pickup does not converge");
      const req = await world.pack(client, { ...world.message(client, T.deliveryRequest, { limit: opts.batch }), return_route: "all" });
      const d = await cpuMs(() => world.receive(req));
      const opened = await cpuMs(() => unpack(d.value.replies[0]!, client.ctx, { message: { maxAttachments: 10_000 } }));
      const delivery = opened.value.message;
      if (delivery.type !== T.delivery) throw new Error(`expected a delivery, got ${delivery.type}`);
      const ids = (delivery.attachments ?? []).map((a) => a.id!);
      picked += ids.length;
      reqMs += d.ms;
      clientMs += opened.ms;
      if (removeDirect) {
        const removed = await cpuMs(() => world.mailbox.remove(client.did, ids));
        const stats = await cpuMs(() => world.mailbox.stats(client.did));
        if (removed.value !== ids.length) throw new Error(`removed ${removed.value} of ${ids.length}`);
        removeMs += removed.ms;
        statsMs += stats.ms;
        recMs += removed.ms + stats.ms;
        left = stats.value.count;
        continue;
      }
      const rec = await world.pack(client, { ...world.message(client, T.messagesReceived, { message_id_list: ids }), return_route: "all" });
      const s = await cpuMs(() => world.receive(rec));
      const status = await cpuMs(() => world.open(client, s.value.replies));
      left = status.value[0]!.body.message_count as number;
      recMs += s.ms;
      clientMs += status.ms;
    }
    const c = process.cpuUsage(c0);
    const wallS = (performance.now() - t0) / 1000;
    const totalCpuMs = (c.user + c.system) / 1000;
    if (picked !== opts.messages) throw new Error(`picked ${picked} of ${opts.messages}`);
    const serverMs = reqMs + recMs;
    log(
      `end to end: ${fmtInt(picked)} messages in ${rounds} rounds; server CPU delivery-request ${round(reqMs / rounds, 2)} ms/round, ` +
        `messages-received ${round(recMs / rounds, 2)} ms/round; client unpack ${round(clientMs / rounds, 2)} ms/round`,
    );
    log(
      `        server-only CPU ceiling ${fmtInt((picked / serverMs) * 1000)} messages/s; whole loop (client pack+unpack too) ` +
        `${fmtInt((picked / totalCpuMs) * 1000)} messages/CPU-s, wall ${fmtInt(picked / wallS)} messages/s`,
    );
    if (removeDirect) log(`        (direct) mailbox.remove ${round(removeMs / rounds, 2)} ms/round, mailbox.stats ${round(statsMs / rounds, 2)} ms/round`);
    Object.assign(figures, {
      rounds,
      remove_direct: removeDirect,
      server_delivery_request_cpu_ms_per_round: round(reqMs / rounds, 2),
      server_messages_received_cpu_ms_per_round: round(recMs / rounds, 2),
      client_unpack_cpu_ms_per_round: round(clientMs / rounds, 2),
      server_cpu_messages_per_s: Math.round((picked / serverMs) * 1000),
      loop_cpu_messages_per_s: Math.round((picked / totalCpuMs) * 1000),
      wall_messages_per_s: Math.round(picked / wallS),
    });
  }
  console.log(JSON.stringify(figures));
} finally {
  await world.close();
}
