// did:peer:4 against the reference implementation's README vectors; short-form memory; tampering.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { base58Encode } from "../../src/didcomm/did/base58.ts";
import {
  createPeer4,
  createResolver,
  didcommServices,
  findVerificationMethod,
  keyAgreementKeys,
  authenticationKeys,
  peer4ShortForm,
  Peer4Resolver,
  resolvePeer4Long,
} from "../../src/didcomm/did/index.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { multikeyToJwk } from "../../src/didcomm/keys/multikey.ts";

// decentralized-identity/did-peer-4 README: encode({"hello": "world"}).
const HELLO_LONG = "did:peer:4zQmb7xLdVY9TXx8oov5XgpGUmGELgqiAV2699s43i6Qdm3M:zQSJgiFTYiCHjQ9MktwNThRXM7a";
const HELLO_SHORT = "did:peer:4zQmb7xLdVY9TXx8oov5XgpGUmGELgqiAV2699s43i6Qdm3M";

// The README's input document built from keys and a service, and its published long form.
const INPUT_DOC = {
  "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
  verificationMethod: [
    { id: "#key-0", type: "Multikey", publicKeyMultibase: "z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V" },
    { id: "#key-1", type: "Multikey", publicKeyMultibase: "z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc" },
  ],
  authentication: ["#key-0"],
  capabilityDelegation: ["#key-0"],
  service: [{ id: "#didcomm-0", type: "DIDCommMessaging", serviceEndpoint: { uri: "didcomm:transport/queue", accept: ["didcomm/v2"] } }],
  keyAgreement: ["#key-1"],
};
const DOC_SHORT = "did:peer:4zQmQabhRUiFPAmn7CX6B8V6qmfrs7nQQyFb6zAD7EAWvW3c";
const DOC_LONG_PREFIX = `${DOC_SHORT}:zMoDtDfb4quiz6yXy8ftBst291RGXBJaVy8FMivQWVLPbYUSAS68WgeWNxtdR5aBNraMHsPZi4iSWizFpbbZxQ2Cw56HwPxwG3SMa3`;
const DOC_LONG_SUFFIX = "SVNrFVZyCiSMX2Wwa7tnxvujZTjutKXr";

/** A correctly hashed long form around arbitrary JSON text (createPeer4 refuses bad input documents). */
function longFormOf(jsonText: string): string {
  const json = new TextEncoder().encode(jsonText);
  const encoded = "z" + base58Encode(new Uint8Array([0x80, 0x04, ...json]));
  const hash = "z" + base58Encode(new Uint8Array([0x12, 0x20, ...createHash("sha256").update(encoded).digest()]));
  return `did:peer:4${hash}:${encoded}`;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DidcommError) return e.code;
    throw e;
  }
  return "no error";
}

describe("did:peer:4 vectors", () => {
  test("createPeer4 reproduces the README's hello-world DID", () => {
    expect(createPeer4({ hello: "world" })).toEqual({ longForm: HELLO_LONG, shortForm: HELLO_SHORT });
  });

  test("createPeer4 reproduces the README's key-and-service DID", () => {
    const { longForm, shortForm } = createPeer4(INPUT_DOC);
    expect(shortForm).toBe(DOC_SHORT);
    expect(longForm.startsWith(DOC_LONG_PREFIX)).toBe(true);
    expect(longForm.endsWith(DOC_LONG_SUFFIX)).toBe(true);
    expect(peer4ShortForm(longForm)).toBe(shortForm);
  });

  test("the long form resolves: id = long form, alsoKnownAs = short form, keys and services usable", () => {
    const { longForm, shortForm } = createPeer4(INPUT_DOC);
    const doc = resolvePeer4Long(longForm);
    expect(doc.id).toBe(longForm);
    expect(doc.alsoKnownAs).toEqual([shortForm]);
    expect(doc.verificationMethod[0]).toEqual({
      id: `${longForm}#key-0`,
      type: "Multikey",
      controller: longForm,
      publicKeyMultibase: "z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V",
    });
    expect(keyAgreementKeys(doc)).toEqual([{ kid: `${longForm}#key-1`, jwk: multikeyToJwk("z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc") }]);
    expect(authenticationKeys(doc).map((k) => k.kid)).toEqual([`${longForm}#key-0`]);
    // Senders may name keys by the short form.
    expect(findVerificationMethod(doc, `${shortForm}#key-1`)?.id).toBe(`${longForm}#key-1`);
    expect(didcommServices(doc)).toEqual([{ id: `${longForm}#didcomm-0`, endpoint: { uri: "didcomm:transport/queue", accept: ["didcomm/v2"] } }]);
  });
});

describe("did:peer:4 resolver", () => {
  test("the short form resolves only after its long form was seen", async () => {
    const r = new Peer4Resolver();
    expect(await code(r.resolve(DOC_SHORT))).toBe("did_not_resolved");
    const { longForm } = createPeer4(INPUT_DOC);
    await r.resolve(longForm);
    expect((await r.resolve(DOC_SHORT)).id).toBe(longForm);
  });

  test("the memory of seen long forms is bounded, oldest out", async () => {
    const r = new Peer4Resolver({ maxRemembered: 2 });
    const dids = [1, 2, 3].map((n) => createPeer4({ n }));
    for (const d of dids) r.remember(d.longForm);
    expect(await code(r.resolve(dids[0]!.shortForm))).toBe("did_not_resolved");
    expect((await r.resolve(dids[2]!.shortForm)).id).toBe(dids[2]!.longForm);
  });

  test("a tampered document or hash is DidInvalid", async () => {
    const r = new Peer4Resolver();
    const { longForm } = createPeer4(INPUT_DOC);
    const last = longForm.at(-1) === "a" ? "b" : "a";
    expect(await code(r.resolve(longForm.slice(0, -1) + last))).toBe("did_invalid");
    const other = createPeer4({ hello: "there" }).longForm;
    const swapped = `${DOC_SHORT}:${other.split(":")[3]}`;
    expect(await code(r.resolve(swapped))).toBe("did_invalid");
    expect(await code(r.resolve("did:peer:4zQmnotahash"))).toBe("did_invalid");
  });

  test("input documents that are not objects, not JSON, or carry an id are DidInvalid", async () => {
    const r = new Peer4Resolver();
    expect((await r.resolve(longFormOf('{"hello":"world"}'))).id).toBe(HELLO_LONG); // the builder is right
    expect(await code(r.resolve(longFormOf('{"id":"did:example:x"}')))).toBe("did_invalid");
    expect(await code(r.resolve(longFormOf("[1,2,3]")))).toBe("did_invalid");
    expect(await code(r.resolve(longFormOf("{not json")))).toBe("did_invalid");
    expect(await code(r.resolve(longFormOf('{"verificationMethod":[{"id":7}]}')))).toBe("did_invalid");
    expect(() => createPeer4({ id: "did:example:x" })).toThrow(DidcommError);
  });

  test("createResolver routes did:peer:4 through one shared resolver", async () => {
    const resolver = createResolver({ web: false });
    const { longForm, shortForm } = createPeer4(INPUT_DOC);
    expect(await code(resolver.resolve(shortForm))).toBe("did_not_resolved");
    // Seeing the long form clears the short form's negative cache entry.
    await resolver.resolve(longForm);
    expect((await resolver.resolve(shortForm)).id).toBe(longForm);
    const other = createPeer4({ other: true });
    expect(await code(resolver.resolve(other.shortForm))).toBe("did_not_resolved");
    resolver.rememberPeer4(other.longForm);
    expect((await resolver.resolve(other.shortForm)).id).toBe(other.longForm);
  });
});
