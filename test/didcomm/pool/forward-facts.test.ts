// A forward unpacked on a worker arrives with its envelope pre-serialised (facts): same result, same stored bytes and dedup.
import { afterAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../../src/config/index.ts";
import { createPeer2, createResolver, resolvePeer2, keyAgreementKeys } from "../../../src/didcomm/did/index.ts";
import { generateIdentity, mintMediatorDid } from "../../../src/didcomm/identity/index.ts";
import { encryptAnon } from "../../../src/didcomm/jwe/anoncrypt.ts";
import { generateJwk } from "../../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../../src/didcomm/keys/jwk.ts";
import { buildForward } from "../../../src/didcomm/message/forward.ts";
import type { Message } from "../../../src/didcomm/message/types.ts";
import { packEncrypted, unpack, type DidcommContext } from "../../../src/didcomm/pack/index.ts";
import { createUnpackPool, factsOfAttached, knownForwardFacts } from "../../../src/didcomm/pool/index.ts";
import { MemorySecrets } from "../../../src/didcomm/secrets/index.ts";
import { MailboxActor } from "../../../src/mailbox/index.ts";
import { createMediatorCore, type MediatorCore } from "../../../src/mediator/index.ts";
import { createLogger } from "../../../src/observability/index.ts";
import { systemClock } from "../../../src/runtime/index.ts";
import { createMemoryDriver, type StorageDriver } from "../../../src/storage/index.ts";
import { expectSameAsInThread, mediator, mediatorCtx, realEnvelopes } from "./fixtures.ts";

const forwardsP = realEnvelopes().then((all) => all.filter((e) => e.workerOnly && e.name.includes("forward")));

describe("unpack pool: forward facts", () => {
  const ctx = mediatorCtx();
  const pool = createUnpackPool({ ctx, keys: mediator.keys, workers: 1 });
  afterAll(() => pool.close());

  test("real forwards: the worker's facts describe the in-thread attachment; the result serialises identically", async () => {
    const forwards = await forwardsP;
    expect(forwards.length).toBeGreaterThan(4);
    for (const f of forwards) {
      const [viaPool, inThread] = await Promise.all([pool.unpack(f.packed), unpack(f.packed, ctx)]);
      const facts = knownForwardFacts(viaPool.message);
      expect(facts, f.name).toBeDefined();
      expect(knownForwardFacts(inThread.message)).toBeUndefined(); // only the pool attaches facts
      const attached = inThread.message.attachments![0]!.data.json as Record<string, unknown>;
      expect(facts).toEqual(factsOfAttached(attached));
      expect(facts!.jweShape).toBe(true);
      // Key order and values exactly as in-thread (the attachment is re-attached where it was).
      expect(JSON.stringify(viaPool)).toBe(JSON.stringify(inThread));
      expect(viaPool).toStrictEqual(inThread);
    }
  });

  test("the re-attached envelope is a plain value once read, and writing it drops the facts", async () => {
    const forwards = await forwardsP;
    const r = await pool.unpack(forwards[0]!.packed);
    const data = r.message.attachments![0]!.data as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(["json"]);
    const first = data.json;
    expect(data.json).toBe(first); // parsed once, then kept
    expect(Object.getOwnPropertyDescriptor(data, "json")).toMatchObject({ value: first, writable: true, enumerable: true });
    expect(knownForwardFacts(r.message)).toBeDefined();
    const r2 = await pool.unpack(forwards[1]!.packed);
    (r2.message.attachments![0]!.data as Record<string, unknown>).json = { replaced: true };
    expect(knownForwardFacts(r2.message)).toBeUndefined();
    expect(r2.message.attachments![0]!.data.json).toEqual({ replaced: true });
  });

  test("bytes that are not all ASCII (BOM, é in whitespace position, broken UTF-8) still match in-thread, via a worker", async () => {
    const forwards = await forwardsP;
    const text = forwards[0]!.packed;
    const before = pool.stats().viaWorker;
    const variants: Uint8Array[] = [
      Buffer.from(text, "utf8"), // ASCII: sent as text
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), // a BOM
      Buffer.from(`${text.slice(0, 1)} \u00e9${text.slice(1)}`, "utf8"), // non-ASCII where JSON allows nothing: malformed
      Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff]), Buffer.from("}")]), // invalid UTF-8
      Buffer.concat([Buffer.from("x".repeat(100)), Buffer.from(text)]).subarray(100), // a view into a larger buffer
    ];
    for (const [i, v] of variants.entries()) await expectSameAsInThread(pool, ctx, v, `variant ${i}`);
    expect(pool.stats().viaWorker - before).toBe(variants.length);
  });
});

/** A mediator core over a memory driver, optionally with a one-worker pool; one enrolled recipient. */
async function node(keys: ReturnType<typeof mintMediatorDid>, withPool: boolean) {
  const config = loadConfig({});
  const logger = createLogger({ level: "warn", destination: { write: () => {} } });
  const driver: StorageDriver = createMemoryDriver();
  const secrets = new MemorySecrets(keys.keys);
  const quota = { maxCount: config.limits.mailboxMaxMessages, maxBytes: config.limits.mailboxMaxBytes };
  const mailbox = new MailboxActor({ driver, clock: systemClock, defaultQuota: quota });
  const ctx: DidcommContext = { resolver: createResolver({ web: false }), secrets, maxEnvelopeBytes: config.limits.maxMessageBytes };
  const pool = withPool ? createUnpackPool({ ctx, keys: keys.keys, workers: 1 }) : undefined;
  const core: MediatorCore = createMediatorCore({
    mediatorDid: keys.did,
    resolver: createResolver({ web: false }),
    secrets,
    ...(pool !== undefined ? { unpackPool: pool } : {}),
    storage: driver,
    mailbox,
    config,
    clock: systemClock,
    logger,
  });
  return {
    core,
    pool,
    mailbox,
    driver,
    receive: (packed: string) => core.receive(Buffer.from(packed), { kind: "http", receivedAtMs: systemClock.nowMs(), requestId: "t" }),
    async close() {
      await pool?.close();
      await mailbox.stop({ drain: true });
      await driver.close();
    },
  };
}

describe("routing with worker facts vs in-thread", () => {
  test("same stored payload bytes, same duplicate detection, same refusals", async () => {
    const minted = mintMediatorDid(generateIdentity(), { httpUri: "http://mediator.test", wsUri: "ws://mediator.test/ws" });
    const [pooled, plain] = await Promise.all([node(minted, true), node(minted, false)]);
    try {
      const x = generateJwk("X25519");
      const bob = createPeer2({ agreementKeys: [publicPart(x)], authenticationKeys: [publicPart(generateJwk("Ed25519"))], services: [{ uri: minted.did, accept: ["didcomm/v2"] }] });
      for (const n of [pooled, plain]) {
        await n.driver.mediations.grant({ clientDid: bob, routingDid: minted.did, grantedAtMs: systemClock.nowMs() });
        expect(await n.driver.mediations.addKey(bob, bob)).toBe("success");
      }
      const sender: DidcommContext = { resolver: createResolver({ web: false }), secrets: new MemorySecrets([]) };
      const envelopes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const msg: Message = { id: crypto.randomUUID(), type: "https://example.org/chat/1.0/msg", to: [bob], body: { text: `m${i} ✓` } };
        envelopes.push((await packEncrypted(msg, bob, sender)).packed);
      }
      // Each envelope twice (a client retry): the second is a duplicate on both nodes.
      for (const e of [...envelopes, ...envelopes]) {
        const [a, b] = await Promise.all([pooled.receive(e), plain.receive(e)]);
        expect(a).toEqual(b);
        expect(a.kind).toBe("accepted");
      }
      // A forward whose attachment is not a JWE is refused the same way (the worker's jweShape fact).
      const mediatorKey = keyAgreementKeys(resolvePeer2(minted.did))[0]!;
      const notJwe = JSON.stringify(encryptAnon(Buffer.from(JSON.stringify(buildForward(bob, { hello: "world" }))), [mediatorKey]));
      const [ra, rb] = await Promise.all([pooled.receive(notJwe), plain.receive(notJwe)]);
      expect(ra).toEqual(rb);
      expect(ra).toMatchObject({ kind: "rejected", code: "invalid_message" });

      const [sa, sb] = await Promise.all([pooled.mailbox.list(bob, { limit: 100 }), plain.mailbox.list(bob, { limit: 100 })]);
      expect(sa.length).toBe(envelopes.length);
      expect(sa.map((m) => Buffer.from(m.payload).toString("hex"))).toEqual(sb.map((m) => Buffer.from(m.payload).toString("hex")));
      // The worker really answered (the facts path ran), and the in-thread node had no pool at all.
      expect(pooled.pool!.stats().viaWorker).toBeGreaterThanOrEqual(envelopes.length * 2 + 1);
    } finally {
      await Promise.all([pooled.close(), plain.close()]);
    }
  });
});
