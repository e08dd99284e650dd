// Mediator identity: (de)serialisation, the 0600 key file, DID minting, and redaction of private keys.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createResolver, didcommServices, findVerificationMethod, keyAgreementKeys, authenticationKeys } from "../../src/didcomm/did/index.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import {
  generateIdentity,
  IdentityFileError,
  loadOrCreateIdentityFile,
  mintMediatorDid,
  parseIdentity,
  serializeIdentity,
} from "../../src/didcomm/identity/index.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/index.ts";

const dir = mkdtempSync(join(tmpdir(), "haven-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): DidcommError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DidcommError) return e;
    throw e;
  }
  throw new Error("expected a DidcommError");
}

async function asyncErrorOf(p: Promise<unknown>): Promise<DidcommError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DidcommError) return e;
    throw e;
  }
  throw new Error("expected a DidcommError");
}

describe("identity serialisation", () => {
  test("round-trips through the version 1 JSON form", () => {
    const id = generateIdentity();
    const json = serializeIdentity(id);
    expect(JSON.parse(json).version).toBe(1);
    const back = parseIdentity(json);
    expect(back.keyAgreement).toEqual(id.keyAgreement);
    expect(back.authentication).toEqual(id.authentication);
  });

  test("rejects malformed input, wrong versions and mismatched key halves, without leaking d", () => {
    const id = generateIdentity();
    const obj = JSON.parse(serializeIdentity(id));
    expect(errorOf(() => parseIdentity("{")).code).toBe("malformed");
    expect(errorOf(() => parseIdentity(JSON.stringify({ ...obj, version: 2 }))).code).toBe("unsupported");
    const swapped = { ...obj, keyAgreement: { ...obj.keyAgreement, x: generateIdentity().keyAgreement.x } };
    const e = errorOf(() => parseIdentity(JSON.stringify(swapped)));
    expect(e.code).toBe("invalid_key");
    expect(e.message).not.toContain(obj.keyAgreement.d);
    const wrongCurve = { ...obj, keyAgreement: obj.authentication };
    expect(errorOf(() => parseIdentity(JSON.stringify(wrongCurve))).code).toBe("invalid_key");
  });

  test("JSON, inspect and toString of an identity never show private keys", () => {
    const id = generateIdentity();
    for (const text of [JSON.stringify({ id }), Bun.inspect(id), String(id), Bun.inspect({ nested: id })]) {
      expect(text).not.toContain(id.keyAgreement.d);
      expect(text).not.toContain(id.authentication.d);
    }
  });
});

describe("identity file", () => {
  test("is created with mode 0600 (and its directory) and reloaded unchanged", async () => {
    const path = join(dir, "nested", "deeper", "identity.json");
    const first = await loadOrCreateIdentityFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateIdentityFile(path);
    expect(again.keyAgreement).toEqual(first.keyAgreement);
    expect(again.authentication).toEqual(first.authentication);
  });

  test("concurrent first starts agree on one identity", async () => {
    const path = join(dir, "race", "identity.json");
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => loadOrCreateIdentityFile(path)));
    expect(b!.keyAgreement).toEqual(a!.keyAgreement);
    expect(c!.authentication).toEqual(a!.authentication);
  });

  test("refuses a group/world readable file", async () => {
    const path = join(dir, "open.json");
    writeFileSync(path, serializeIdentity(generateIdentity()));
    chmodSync(path, 0o644);
    const e = await asyncErrorOf(loadOrCreateIdentityFile(path));
    expect(e).toBeInstanceOf(IdentityFileError);
    expect((e as IdentityFileError).problem).toBe("insecure_permissions");
  });

  test("refuses a malformed file without echoing its contents", async () => {
    const path = join(dir, "bad.json");
    writeFileSync(path, '{"version":1,"keyAgreement":"SECRET-ISH"}', { mode: 0o600 });
    const e = await asyncErrorOf(loadOrCreateIdentityFile(path));
    expect((e as IdentityFileError).problem).toBe("malformed");
    expect(e.message).not.toContain("SECRET-ISH");
  });

  test("refuses a directory", async () => {
    const e = await asyncErrorOf(loadOrCreateIdentityFile(dir));
    expect((e as IdentityFileError).problem).toBe("not_a_file");
  });
});

describe("mintMediatorDid", () => {
  const id = generateIdentity();
  const uris = { httpUri: "https://mediator.example/didcomm", wsUri: "wss://mediator.example/ws" };

  test("kids match the resolved document and the services are HTTP then WS", async () => {
    const minted = mintMediatorDid(id, uris);
    const doc = await createResolver({ web: false }).resolve(minted.did);
    const [ka, auth] = minted.keys;
    expect(ka!.kid).toBe(keyAgreementKeys(doc)[0]!.kid);
    expect(auth!.kid).toBe(authenticationKeys(doc)[0]!.kid);
    expect(findVerificationMethod(doc, ka!.kid)?.publicKeyMultibase).toStartWith("z6LS");
    expect(findVerificationMethod(doc, auth!.kid)?.publicKeyMultibase).toStartWith("z6Mk");
    expect(ka!.jwk.d).toBe(id.keyAgreement.d);
    expect(didcommServices(doc).map((s) => [s.id.slice(minted.did.length), s.endpoint])).toEqual([
      ["#service", { uri: uris.httpUri, accept: ["didcomm/v2"] }],
      ["#service-1", { uri: uris.wsUri, accept: ["didcomm/v2"] }],
    ]);
    expect(minted.document).toEqual(doc);
  });

  test("is deterministic, and validates URIs", () => {
    expect(mintMediatorDid(id, uris).did).toBe(mintMediatorDid(id, uris).did);
    expect(() => mintMediatorDid(id, { httpUri: "ftp://x" })).toThrow(DidcommError);
    expect(() => mintMediatorDid(id, { httpUri: "https://x", wsUri: "https://y" })).toThrow(DidcommError);
  });

  test("minted keys and the secrets store print kids only", () => {
    const minted = mintMediatorDid(id, uris);
    const secrets = new MemorySecrets(minted.keys);
    expect(secrets.get(minted.keys[0]!.kid)?.jwk.d).toBe(id.keyAgreement.d);
    expect(secrets.has(["did:example:nope#1", minted.keys[1]!.kid])).toEqual([minted.keys[1]!.kid]);
    for (const text of [JSON.stringify(minted.keys), Bun.inspect(minted.keys), JSON.stringify(secrets), Bun.inspect(secrets), Bun.inspect(secrets.get(minted.keys[0]!.kid))]) {
      expect(text).not.toContain(id.keyAgreement.d);
      expect(text).not.toContain(id.authentication.d);
    }
    expect(JSON.stringify(secrets)).toContain(minted.keys[0]!.kid);
  });

  test("MemorySecrets validates what it stores", () => {
    const secrets = new MemorySecrets();
    expect(() => secrets.add({ kid: "key-1", jwk: id.keyAgreement })).toThrow(DidcommError);
    expect(() => secrets.add({ kid: "did:example:a#1", jwk: { ...id.keyAgreement, d: "short" } })).toThrow(DidcommError);
  });
});
