// did:peer:2 against the DIF spec example (current encoding) and the SICPA peer-did vector (legacy encoding).
import { describe, expect, test } from "bun:test";
import { base58 } from "@scure/base";
import {
  authenticationKeys,
  createPeer2,
  didcommServices,
  findVerificationMethod,
  keyAgreementKeys,
  resolvePeer2,
  vmToJwk,
} from "../../src/didcomm/did/index.ts";
import { b64uDecode, b64uEncodeJson } from "../../src/didcomm/encoding/base64url.ts";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { multikeyToJwk } from "../../src/didcomm/keys/multikey.ts";

// DIF peer DID method spec, numalgo 2 example (also reproduced by the did-peer-2 reference library).
const V_KEY = "z6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc";
const E_KEY = "z6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR";
const SPEC_DID =
  "did:peer:2.Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc.Ez6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9kaWRjb21tIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0xIl19fQ";

// SICPA peer-did-rust/python test vector: legacy service encoding (string "s", explicit id) and the
// base58 keys their resolver published for it.
const SICPA_DID =
  "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.Vz6MkgoLTnTypo3tDRwCkZXSccTPHRLhF4ZnjhueYAFpEX6vg.SeyJpZCI6IiNzZXJ2aWNlLTAiLCJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXSwiYSI6WyJkaWRjb21tL3YyIiwiZGlkY29tbS9haXAyO2Vudj1yZmM1ODciXX0";

function b58OfX(x: string): string {
  return base58.encode(b64uDecode(x));
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof DidcommError) return e.code;
    throw e;
  }
  return "no error";
}

describe("did:peer:2 spec example", () => {
  test("createPeer2 reproduces the spec DID byte for byte", () => {
    const did = createPeer2({
      authenticationKeys: [multikeyToJwk(V_KEY)],
      agreementKeys: [multikeyToJwk(E_KEY)],
      services: [{ uri: "http://example.com/didcomm", accept: ["didcomm/v2"], routingKeys: ["did:example:123456789abcdefghi#key-1"] }],
    });
    expect(did).toBe(SPEC_DID);
  });

  test("resolves to the spec's document (absolute ids)", () => {
    const doc = resolvePeer2(SPEC_DID);
    expect(doc.id).toBe(SPEC_DID);
    expect(doc.verificationMethod).toEqual([
      { id: `${SPEC_DID}#key-1`, type: "Multikey", controller: SPEC_DID, publicKeyMultibase: V_KEY },
      { id: `${SPEC_DID}#key-2`, type: "Multikey", controller: SPEC_DID, publicKeyMultibase: E_KEY },
    ]);
    expect(doc.authentication).toEqual([`${SPEC_DID}#key-1`]);
    expect(doc.keyAgreement).toEqual([`${SPEC_DID}#key-2`]);
    expect(doc.service).toEqual([
      {
        type: "DIDCommMessaging",
        serviceEndpoint: { uri: "http://example.com/didcomm", accept: ["didcomm/v2"], routingKeys: ["did:example:123456789abcdefghi#key-1"] },
        id: "#service",
      },
    ]);
    expect(doc.alsoKnownAs?.[0]).toStartWith("did:peer:3zQm");
    expect(keyAgreementKeys(doc)).toEqual([{ kid: `${SPEC_DID}#key-2`, jwk: multikeyToJwk(E_KEY) }]);
    expect(authenticationKeys(doc)).toEqual([{ kid: `${SPEC_DID}#key-1`, jwk: multikeyToJwk(V_KEY) }]);
    expect(didcommServices(doc)).toEqual([
      {
        id: `${SPEC_DID}#service`,
        endpoint: { uri: "http://example.com/didcomm", accept: ["didcomm/v2"], routingKeys: ["did:example:123456789abcdefghi#key-1"] },
      },
    ]);
  });

  test("kids resolve whether written absolute, relative, or via the did:peer:3 alias", () => {
    const doc = resolvePeer2(SPEC_DID);
    const vm = doc.verificationMethod[1]!;
    expect(findVerificationMethod(doc, `${SPEC_DID}#key-2`)).toBe(vm);
    expect(findVerificationMethod(doc, "#key-2")).toBe(vm);
    expect(findVerificationMethod(doc, `${doc.alsoKnownAs![0]}#key-2`)).toBe(vm);
    expect(findVerificationMethod(doc, `${SPEC_DID}#key-3`)).toBeUndefined();
    expect(findVerificationMethod(doc, "did:example:other#key-2")).toBeUndefined();
  });
});

describe("did:peer:2 legacy encoding (SICPA vector)", () => {
  const doc = resolvePeer2(SICPA_DID);

  test("keys decode to the published base58 values, ids count across purposes", () => {
    expect(keyAgreementKeys(doc).map((k) => [k.kid, b58OfX(k.jwk.x)])).toEqual([[`${SICPA_DID}#key-1`, "JhNWeSVLMYccCk7iopQW4guaSJTojqpMEELgSLhKwRr"]]);
    expect(authenticationKeys(doc).map((k) => [k.kid, b58OfX(k.jwk.x)])).toEqual([
      [`${SICPA_DID}#key-2`, "ByHnpUCFb1vAfh9CFZ8ZkmUZguURW8nSw889hy6rD8L7"],
      [`${SICPA_DID}#key-3`, "3M5RCDjPTWPkKSN3sxUmmMqHbmRPegYP1tjcKyrDbt9J"],
    ]);
  });

  test("string serviceEndpoint with top-level routingKeys/accept, explicit id kept", () => {
    expect(doc.service[0]!.id).toBe("#service-0");
    expect(didcommServices(doc)).toEqual([
      {
        id: `${SICPA_DID}#service-0`,
        endpoint: { uri: "https://example.com/endpoint", accept: ["didcomm/v2", "didcomm/aip2;env=rfc587"], routingKeys: ["did:example:somemediator#somekey"] },
      },
    ]);
  });

  test("kids from older peer-did libraries (#6LSbysY2, full multikey) still find their key", () => {
    const vm = findVerificationMethod(doc, `${SICPA_DID}#6LSbysY2`);
    expect(vm?.id).toBe(`${SICPA_DID}#key-1`);
    expect(findVerificationMethod(doc, `${SICPA_DID}#6MkgoLTnTypo3tDRwCkZXSccTPHRLhF4ZnjhueYAFpEX6vg`)?.id).toBe(`${SICPA_DID}#key-3`);
    expect(vmToJwk(vm!).crv).toBe("X25519");
  });
});

describe("did:peer:2 creation and errors", () => {
  test("several services get #service, #service-1; an array-valued S element is accepted", () => {
    const e = publicPart(generateJwk("X25519"));
    const did = createPeer2({
      agreementKeys: [e],
      authenticationKeys: [],
      services: [{ uri: "https://a.example/didcomm", accept: ["didcomm/v2"] }, { uri: "wss://a.example/ws" }],
    });
    expect(didcommServices(resolvePeer2(did)).map((s) => [s.id.slice(did.length), s.endpoint.uri])).toEqual([
      ["#service", "https://a.example/didcomm"],
      ["#service-1", "wss://a.example/ws"],
    ]);
    const arr = b64uEncodeJson([{ t: "dm", s: { uri: "https://x.example" } }, { t: "dm", s: { uri: "https://y.example" } }]);
    const did2 = `did:peer:2.E${did.split(".E")[1]!.split(".")[0]}.S${arr}`;
    expect(resolvePeer2(did2).service.map((s) => s.id)).toEqual(["#service", "#service-1"]);
  });

  test("P-256 keys round-trip through the DID", () => {
    const p = publicPart(generateJwk("P-256"));
    const did = createPeer2({ agreementKeys: [p], authenticationKeys: [p] });
    const doc = resolvePeer2(did);
    expect(keyAgreementKeys(doc)[0]!.jwk).toEqual(p);
    expect(authenticationKeys(doc)[0]!.jwk).toEqual(p);
  });

  test("rejects keys of the wrong kind and key-less DIDs", () => {
    const x = publicPart(generateJwk("X25519"));
    const ed = publicPart(generateJwk("Ed25519"));
    expect(code(() => createPeer2({ agreementKeys: [ed], authenticationKeys: [] }))).toBe("invalid_key");
    expect(code(() => createPeer2({ agreementKeys: [], authenticationKeys: [x] }))).toBe("invalid_key");
    expect(code(() => createPeer2({ agreementKeys: [], authenticationKeys: [] }))).toBe("invalid_key");
  });

  test("malformed DIDs are DidInvalid", () => {
    for (const bad of [
      "did:peer:2",
      "did:peer:2.",
      "did:peer:2.Xz6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
      "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KC",
      "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.S!!!",
      "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.SWzFd",
      "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Snotjson",
      "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc." + "E".repeat(20_000),
    ]) {
      expect(code(() => resolvePeer2(bad))).toBe("did_invalid");
    }
  });
});
