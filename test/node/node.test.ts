// A real node from createNode in a temp DATA_DIR: DID and invitation, trust ping over HTTP and WebSocket, stop.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createPeer2, createResolver, didcommServices, keyAgreementKeys, authenticationKeys, resolvePeer2 } from "../../src/didcomm/did/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { newMessage } from "../../src/didcomm/message/index.ts";
import { packEncrypted, unpack, type DidcommContext } from "../../src/didcomm/pack/index.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/index.ts";
import { createNode, type HavenNode } from "../../src/node/index.ts";
import { createLogger } from "../../src/observability/index.ts";
import { parseInvitationUrl } from "../../src/transport/invitation.ts";

const PING = "https://didcomm.org/trust-ping/2.0/ping";
const PING_RESPONSE = "https://didcomm.org/trust-ping/2.0/ping-response";

const dirs: string[] = [];
const nodes: HavenNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "haven-node-"));
  dirs.push(d);
  return d;
}

/** PORT=0 with the default-style PUBLIC_URL: the node must put the bound port into its URLs and DID. */
function nodeConfig(dataDir: string): Config {
  const base = loadConfig({ DATA_DIR: dataDir, HOST: "127.0.0.1", LOG_LEVEL: "warn" });
  return { ...base, server: { ...base.server, port: 0, publicUrl: "http://127.0.0.1:0", wsUrl: "ws://127.0.0.1:0/ws" } };
}

async function startNode(dataDir = tempDir()): Promise<HavenNode> {
  const lines: string[] = [];
  const logger = createLogger({ level: "warn", destination: { write: (s: string) => void lines.push(s) } });
  const node = await createNode(nodeConfig(dataDir), { logger });
  nodes.push(node);
  return node;
}

function agent(): { did: string; ctx: DidcommContext } {
  const x = generateJwk("X25519");
  const e = generateJwk("Ed25519");
  const did = createPeer2({ agreementKeys: [publicPart(x)], authenticationKeys: [publicPart(e)], services: [] });
  const doc = resolvePeer2(did);
  const secrets = new MemorySecrets([
    { kid: keyAgreementKeys(doc)[0]!.kid, jwk: x },
    { kid: authenticationKeys(doc)[0]!.kid, jwk: e },
  ]);
  return { did, ctx: { resolver: createResolver({ web: false }), secrets } };
}

async function packedPing(from: { did: string; ctx: DidcommContext }, to: string) {
  const msg = newMessage({ type: PING, from: from.did, to: [to], body: { response_requested: true }, return_route: "all" });
  const { packed } = await packEncrypted(msg, to, from.ctx, { from: from.did, forward: false });
  return { msg, packed };
}

describe("createNode", () => {
  test("binds an ephemeral port and publishes it in its URLs, DID services and invitation", async () => {
    const dataDir = tempDir();
    const node = await startNode(dataDir);
    expect(node.port).toBeGreaterThan(0);
    expect(node.url).toBe(`http://127.0.0.1:${node.port}`);
    expect(node.wsUrl).toBe(`ws://127.0.0.1:${node.port}/ws`);
    expect(node.did).toStartWith("did:peer:2.");
    const uris = didcommServices(resolvePeer2(node.did)).map((s) => s.endpoint.uri);
    expect(uris).toEqual([node.url, node.wsUrl]);

    const inv = (await (await fetch(`${node.url}/invitation`)).json()) as Record<string, unknown>;
    expect(inv.from).toBe(node.did);
    expect(parseInvitationUrl(node.invitationUrl)).toEqual(inv);
    expect(node.invitationUrl).toStartWith(`${node.url}?_oob=`);

    expect(statSync(join(dataDir, "mediator-keys.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, "haven.sqlite")).isFile()).toBe(true);
    const ready = await fetch(`${node.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: { name: string }[] }).checks.map((c) => c.name)).toEqual(["storage", "disk", "event_loop"]);
  });

  test("answers a trust ping over HTTP with return_route all", async () => {
    const node = await startNode();
    const alice = agent();
    const { msg, packed } = await packedPing(alice, node.did);
    const res = await fetch(`${node.url}/`, { method: "POST", body: packed, headers: { "content-type": "application/didcomm-encrypted+json" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/didcomm-encrypted+json");
    const { message, metadata } = await unpack(await res.text(), alice.ctx);
    expect(message.type).toBe(PING_RESPONSE);
    expect(message.thid).toBe(msg.id);
    expect(metadata.authenticated).toBe(true);
    expect(message.from).toBe(node.did);
  });

  test("answers a trust ping over WebSocket (text and binary frames)", async () => {
    const node = await startNode();
    const alice = agent();
    const ws = new WebSocket(node.wsUrl);
    ws.binaryType = "arraybuffer";
    const frames: (string | ArrayBuffer)[] = [];
    let wake: (() => void) | undefined;
    ws.onmessage = (e) => {
      frames.push(e.data as string | ArrayBuffer);
      wake?.();
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    const next = async (): Promise<string | ArrayBuffer> => {
      while (frames.length === 0) await new Promise<void>((r) => (wake = r));
      return frames.shift()!;
    };

    const text = await packedPing(alice, node.did);
    ws.send(text.packed);
    const r1 = await next();
    expect(typeof r1).toBe("string");
    expect((await unpack(r1 as string, alice.ctx)).message.thid).toBe(text.msg.id);

    const bin = await packedPing(alice, node.did);
    ws.send(new TextEncoder().encode(bin.packed));
    const r2 = await next();
    expect(r2).toBeInstanceOf(ArrayBuffer);
    const opened = await unpack(new Uint8Array(r2 as ArrayBuffer), alice.ctx);
    expect(opened.message.type).toBe(PING_RESPONSE);
    expect(opened.message.thid).toBe(bin.msg.id);
    ws.close();
  });

  test("bad input is a 4xx, never a 5xx", async () => {
    const node = await startNode();
    const bodies = ["not json", "{}", '{"protected":"!!!","ciphertext":"x"}', "\u0000\u0001\u0002", "[1,2,3]"];
    for (const body of bodies) {
      const res = await fetch(`${node.url}/`, { method: "POST", body, headers: { "content-type": "application/didcomm-encrypted+json" } });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  });

  test("a port already in use fails createNode (no silent port sharing)", async () => {
    const first = await startNode();
    const dataDir = tempDir();
    const base = nodeConfig(dataDir);
    const config: Config = { ...base, server: { ...base.server, port: first.port, publicUrl: first.url, wsUrl: first.wsUrl } };
    const logger = createLogger({ level: "silent", destination: { write: () => {} } });
    await expect(createNode(config, { logger })).rejects.toThrow();
    expect((await fetch(`${first.url}/health/live`)).status).toBe(200);
  });

  test("stop is graceful and idempotent; a restart on the same DATA_DIR keeps the identity", async () => {
    const dataDir = tempDir();
    const first = await startNode(dataDir);
    const keysOf = (did: string) => did.split(".").slice(1, 3).join(".");
    const firstKeys = keysOf(first.did);
    await Promise.all([first.stop(), first.stop()]);
    await expect(fetch(`${first.url}/health/live`)).rejects.toThrow();

    const second = await startNode(dataDir);
    expect(keysOf(second.did)).toBe(firstKeys);
    expect((await fetch(`${second.url}/health/live`)).status).toBe(200);
  });
});
