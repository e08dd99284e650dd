// did:web against a real local HTTP server (Bun.serve on 127.0.0.1): paths, limits, timeouts, bad documents.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { base58 } from "@scure/base";
import { didcommServices, didWebUrl, keyAgreementKeys, authenticationKeys, WebResolver } from "../../src/didcomm/did/index.ts";
import { b64uDecode } from "../../src/didcomm/encoding/base64url.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { jwkToMultikey } from "../../src/didcomm/keys/multikey.ts";

const X = publicPart(generateJwk("X25519"));
const ED = publicPart(generateJwk("Ed25519"));
const P = publicPart(generateJwk("P-256"));

function docFor(did: string): Record<string, unknown> {
  return {
    "@context": ["https://www.w3.org/ns/did/v1"],
    id: did,
    verificationMethod: [
      { id: "#jwk-x", type: "JsonWebKey2020", controller: did, publicKeyJwk: X },
      { id: `${did}#b58-ed`, type: "Ed25519VerificationKey2018", controller: did, publicKeyBase58: base58.encode(b64uDecode(ED.x)) },
      { id: "#mb-p", type: "Multikey", controller: did, publicKeyMultibase: jwkToMultikey(P) },
      { id: "#x2019", type: "X25519KeyAgreementKey2019", controller: did, publicKeyBase58: base58.encode(b64uDecode(X.x)) },
    ],
    keyAgreement: ["#jwk-x", "#mb-p", `${did}#x2019`, "#dangling"],
    authentication: [`${did}#b58-ed`, "#mb-p"],
    service: [
      { id: "#dm", type: "DIDCommMessaging", serviceEndpoint: [{ uri: "https://m.example/dc", accept: ["didcomm/v2"], routingKeys: ["did:key:z6Mk#x"] }, { uri: "wss://m.example/ws" }] },
      { id: "#legacy", type: "DIDCommMessaging", serviceEndpoint: "https://old.example", routingKeys: ["did:example:med#1"] },
      { id: "#other", type: "LinkedDomains", serviceEndpoint: "https://x.example" },
    ],
  };
}

let server: ReturnType<typeof Bun.serve>;
let base = "";
const never = new Promise<Response>(() => {});

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      switch (path) {
        case "/.well-known/did.json":
          return Response.json(docFor("did:web:example.com"));
        case "/users/alice/did.json":
          return Response.json(docFor("did:web:example.com:users:alice"));
        case "/mismatch/did.json":
          return Response.json(docFor("did:web:evil.example"));
        case "/notjson/did.json":
          return new Response("<html>");
        case "/missing/did.json":
          return new Response("no", { status: 404 });
        case "/broken/did.json":
          return new Response("oops", { status: 503 });
        case "/big/did.json":
          return new Response("x".repeat(4096));
        case "/stream/did.json": {
          // Yielding between chunks makes Bun send it chunked, without Content-Length; never ends by itself.
          const chunk = new TextEncoder().encode(" ".repeat(256));
          return new Response(
            new ReadableStream({
              async pull(c) {
                await new Promise((r) => setImmediate(r));
                c.enqueue(chunk);
              },
            }),
          );
        }
        case "/redirect/did.json":
          return Response.redirect(`${base}/.well-known/did.json`, 302);
        case "/hang/did.json":
          return never;
        default:
          return new Response("?", { status: 404 });
      }
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(() => server.stop(true));

function local(opts: ConstructorParameters<typeof WebResolver>[0] = {}): WebResolver {
  return new WebResolver({ ...opts, urlFor: (did) => didWebUrl(did).replace("https://example.com", base) });
}

async function failure(p: Promise<unknown>): Promise<{ code: string; retryable: boolean }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DidcommError) return { code: e.code, retryable: e.retryable };
    throw e;
  }
  return { code: "no error", retryable: false };
}

describe("did:web URL mapping", () => {
  test("host, port and path forms", () => {
    expect(didWebUrl("did:web:w3c-ccg.github.io")).toBe("https://w3c-ccg.github.io/.well-known/did.json");
    expect(didWebUrl("did:web:w3c-ccg.github.io:user:alice")).toBe("https://w3c-ccg.github.io/user/alice/did.json");
    expect(didWebUrl("did:web:example.com%3A3000")).toBe("https://example.com:3000/.well-known/did.json");
    expect(didWebUrl("did:web:example.com%3A3000:a")).toBe("https://example.com:3000/a/did.json");
  });
  test("rejects hosts and paths that could escape", () => {
    for (const bad of ["did:web:", "did:web:exa mple.com", "did:web:example.com:..:x", "did:web:%ZZ", "did:web:a%2Fb", "did:web:example.com:a%2Fb", "did:web:user@host"]) {
      expect(() => didWebUrl(bad)).toThrow(DidcommError);
    }
  });
});

describe("did:web resolution", () => {
  test("well-known and path documents resolve; every key encoding is read", async () => {
    const r = local();
    const doc = await r.resolve("did:web:example.com");
    expect(doc.id).toBe("did:web:example.com");
    expect(keyAgreementKeys(doc)).toEqual([
      { kid: "did:web:example.com#jwk-x", jwk: X },
      { kid: "did:web:example.com#mb-p", jwk: P },
      { kid: "did:web:example.com#x2019", jwk: X },
    ]);
    expect(authenticationKeys(doc)).toEqual([
      { kid: "did:web:example.com#b58-ed", jwk: ED },
      { kid: "did:web:example.com#mb-p", jwk: P },
    ]);
    expect(didcommServices(doc)).toEqual([
      { id: "did:web:example.com#dm", endpoint: { uri: "https://m.example/dc", accept: ["didcomm/v2"], routingKeys: ["did:key:z6Mk#x"] } },
      { id: "did:web:example.com#dm", endpoint: { uri: "wss://m.example/ws" } },
      { id: "did:web:example.com#legacy", endpoint: { uri: "https://old.example", routingKeys: ["did:example:med#1"] } },
    ]);
    expect((await r.resolve("did:web:example.com:users:alice")).id).toBe("did:web:example.com:users:alice");
  });

  test("a document whose id is not the DID is DidInvalid", async () => {
    expect(await failure(local().resolve("did:web:example.com:mismatch"))).toEqual({ code: "did_invalid", retryable: false });
  });

  test("a body that is not JSON is DidInvalid", async () => {
    expect((await failure(local().resolve("did:web:example.com:notjson"))).code).toBe("did_invalid");
  });

  test("404 is DidNotResolved (not retryable), 503 is retryable", async () => {
    expect(await failure(local().resolve("did:web:example.com:missing"))).toEqual({ code: "did_not_resolved", retryable: false });
    expect(await failure(local().resolve("did:web:example.com:broken"))).toEqual({ code: "did_not_resolved", retryable: true });
  });

  test("oversized documents are refused, with or without Content-Length", async () => {
    const r = local({ maxBytes: 2048 });
    expect((await failure(r.resolve("did:web:example.com:big"))).code).toBe("did_invalid");
    expect((await failure(r.resolve("did:web:example.com:stream"))).code).toBe("did_invalid");
  });

  test("a server that never answers times out as retryable DidNotResolved", async () => {
    expect(await failure(local({ timeoutMs: 50 }).resolve("did:web:example.com:hang"))).toEqual({ code: "did_not_resolved", retryable: true });
  });

  test("redirects are not followed", async () => {
    expect((await failure(local().resolve("did:web:example.com:redirect"))).code).toBe("did_not_resolved");
  });

  test("connection refused is retryable DidNotResolved", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = closed.port;
    closed.stop(true);
    const r = new WebResolver({ urlFor: () => `http://127.0.0.1:${port}/.well-known/did.json` });
    expect(await failure(r.resolve("did:web:example.com"))).toEqual({ code: "did_not_resolved", retryable: true });
  });

  test("options are bounded", () => {
    expect(() => new WebResolver({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new WebResolver({ maxBytes: 100 * 1024 * 1024 })).toThrow(RangeError);
  });
});
