// Haven Webhooks 1.0 handlers: set/get/remove for the client's own DIDs, refusal for others' and unauthenticated senders, validation, no secret echo.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/didcomm/message/types.ts";
import { SqliteWebhookStore } from "../../src/delivery/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { ProtocolRouter, Problems, type HandlerContext } from "../../src/protocols/index.ts";
import { WEBHOOK_TYPES, webhooksProtocol } from "../../src/protocols/webhooks.ts";
import { ManualClock } from "../../src/runtime/index.ts";

const SECRET = "agent-secret-0123456789";
const ALICE = "did:example:alice";
const KEYS: Record<string, string> = { "did:example:alice-inbox#k1": ALICE, "did:example:bob-inbox": "did:example:bob" };

function setup(opts: { store?: boolean } = {}) {
  const webhooks = new SqliteWebhookStore({ path: ":memory:", clock: new ManualClock({ startMs: 5_000_000 }) });
  const mediations = {
    get: async (did: string) => (did === ALICE || did === "did:example:bob" ? { clientDid: did, routingDid: "did:example:m", grantedAtMs: 0 } : undefined),
    ownerOf: async (r: string) => KEYS[r],
  };
  const services = { clock: new ManualClock(), logger: createLogger({ level: "silent" }), storage: { mediations }, ...(opts.store === false ? {} : { webhooks }) };
  const router = new ProtocolRouter([webhooksProtocol]);
  const send = (type: string, body: Record<string, unknown>, sender: HandlerContext["sender"] = { kind: "authcrypt", did: ALICE, kid: `${ALICE}#k` }) => {
    const ctx: HandlerContext = {
      sender,
      replyTo: sender.kind === "anonymous" ? undefined : sender.did,
      mediatorDid: "did:example:m",
      transport: { kind: "http" },
      receivedAtMs: 0,
      services: services as unknown as HandlerContext["services"],
    };
    const msg: Message = { id: crypto.randomUUID(), type, body };
    return router.dispatch(msg, ctx);
  };
  return { webhooks, send };
}

describe("webhooks protocol", () => {
  test("set for itself and for its keylist DID; get reports it; remove; the secret is never echoed", async () => {
    const { webhooks, send } = setup();
    const own = await send(WEBHOOK_TYPES.set, { url: "https://hooks.alice.example/n", secret: SECRET });
    expect(own.error).toBeUndefined();
    expect(own.replies[0]).toMatchObject({ type: WEBHOOK_TYPES.setOk, to: [ALICE], body: { recipient_did: ALICE, url: "https://hooks.alice.example/n" } });
    const viaKey = await send(WEBHOOK_TYPES.set, { recipient_did: "did:example:alice-inbox#k1", url: "https://hooks.alice.example/k", secret: SECRET });
    expect(viaKey.replies[0]?.body).toEqual({ recipient_did: "did:example:alice-inbox#k1", url: "https://hooks.alice.example/k" });
    expect((await webhooks.resolveSecret("did:example:alice-inbox#k1"))?.reveal()).toBe(SECRET);
    const got = await send(WEBHOOK_TYPES.get, {});
    expect(got.replies[0]).toMatchObject({ type: WEBHOOK_TYPES.status, body: { recipient_did: ALICE, registered: true, url: "https://hooks.alice.example/n", updated_time: 5000 } });
    expect(JSON.stringify([own, viaKey, got])).not.toContain(SECRET);
    expect((await send(WEBHOOK_TYPES.remove, {})).replies[0]?.body).toEqual({ recipient_did: ALICE, removed: true });
    expect((await send(WEBHOOK_TYPES.remove, {})).replies[0]?.body).toEqual({ recipient_did: ALICE, removed: false });
    expect((await send(WEBHOOK_TYPES.get, {})).replies[0]?.body).toEqual({ recipient_did: ALICE, registered: false });
  });

  test("another client's DID, unknown DIDs, anonymous and unenrolled senders are refused", async () => {
    const { webhooks, send } = setup();
    for (const did of ["did:example:bob-inbox", "did:example:nobody"]) {
      const r = await send(WEBHOOK_TYPES.set, { recipient_did: did, url: "https://evil.example/", secret: SECRET });
      expect(r.error?.problem).toBe(Problems.notEnrolled);
    }
    expect(await webhooks.get("did:example:bob-inbox")).toBeNull();
    expect((await send(WEBHOOK_TYPES.get, {}, { kind: "anonymous" })).error?.problem).toBe(Problems.authRequired);
    expect((await send(WEBHOOK_TYPES.get, {}, { kind: "authcrypt", did: "did:example:stranger", kid: "did:example:stranger#k" })).error?.problem).toBe(Problems.notEnrolled);
  });

  test("validation problems name the field and never the secret; no registry -> unavailable", async () => {
    const { send } = setup();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ url: "ftp://x.example/", secret: SECRET }, "scheme"],
      [{ url: "https://x.example/", secret: "short" }, "secret must be"],
      [{ secret: SECRET }, "body.url"],
      [{ url: "https://x.example/" }, "body.secret"],
      [{ recipient_did: 7, url: "https://x.example/", secret: SECRET }, "recipient_did"],
    ];
    for (const [body, reason] of cases) {
      const r = await send(WEBHOOK_TYPES.set, body);
      expect(r.error?.problem).toBe(Problems.invalidMessage);
      expect(r.error?.args.join(" ")).toContain(reason);
      expect(JSON.stringify(r.replies)).not.toContain(SECRET);
    }
    expect((await setup({ store: false }).send(WEBHOOK_TYPES.get, {})).error?.problem).toBe(Problems.unavailable);
  });
});
