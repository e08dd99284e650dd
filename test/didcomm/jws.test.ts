// JWS signed envelopes: EdDSA/ES256 sign-verify, RFC known answers, strict parsing, tamper and key-mismatch cases.
import { describe, expect, test } from "bun:test";
import { b64uDecodeJson, b64uEncode, b64uEncodeJson, utf8Encode } from "../../src/didcomm/encoding/base64url.ts";
import { DidcommError, type DidcommErrorCode } from "../../src/didcomm/errors.ts";
import { isJwsShape, type JwsGeneral, parseJws, signJws, verifyJwsSignature } from "../../src/didcomm/jws/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { type KeyRef, type PrivateJwk, publicPart } from "../../src/didcomm/keys/jwk.ts";

function codeOf(fn: () => unknown): DidcommErrorCode | "no-error" | "not-didcomm-error" {
  try {
    fn();
    return "no-error";
  } catch (e) {
    return e instanceof DidcommError ? e.code : "not-didcomm-error";
  }
}
const clone = (j: JwsGeneral): JwsGeneral => structuredClone(j);
function flipB64(value: string, index = 0): string {
  const bytes = Buffer.from(value, "base64url");
  bytes[index] = bytes[index]! ^ 0x01;
  return b64uEncode(bytes);
}

const payload = utf8Encode(JSON.stringify({ id: "1", type: "https://didcomm.org/test/1.0/x", body: {} }));
const ed: KeyRef<PrivateJwk> = { kid: "did:example:alice#ed", jwk: generateJwk("Ed25519") };
const p256: KeyRef<PrivateJwk> = { kid: "did:example:alice#p256", jwk: generateJwk("P-256") };

describe("sign + verify", () => {
  for (const [signer, alg] of [[ed, "EdDSA"], [p256, "ES256"]] as const) {
    test(`${alg}: headers and verification`, () => {
      const jws = signJws(payload, [signer]);
      expect(b64uDecodeJson(jws.signatures[0]!.protected)).toEqual({ typ: "application/didcomm-signed+json", alg });
      expect(jws.signatures[0]!.header).toEqual({ kid: signer.kid });
      const parsed = parseJws(JSON.parse(JSON.stringify(jws)));
      expect(parsed.payload).toEqual(payload);
      expect(parsed.signatures[0]!.alg).toBe(alg);
      expect(parsed.signatures[0]!.kid).toBe(signer.kid);
      expect(parsed.signatures[0]!.signature.length).toBe(64);
      verifyJwsSignature(parsed, 0, publicPart(signer.jwk));
    });
  }

  test("several signers, each verifiable by index", () => {
    const jws = signJws(payload, [ed, p256], { typ: "application/x-test" });
    const parsed = parseJws(JSON.stringify(jws));
    expect(parsed.signatures.map((s) => s.typ)).toEqual(["application/x-test", "application/x-test"]);
    verifyJwsSignature(parsed, 0, publicPart(ed.jwk));
    verifyJwsSignature(parsed, 1, publicPart(p256.jwk));
    expect(codeOf(() => verifyJwsSignature(parsed, 0, publicPart(p256.jwk)))).toBe("invalid_signature");
    expect(codeOf(() => verifyJwsSignature(parsed, 2, publicPart(ed.jwk)))).toBe("malformed");
    expect(codeOf(() => verifyJwsSignature(parsed, -1, publicPart(ed.jwk)))).toBe("malformed");
  });

  test("signing errors", () => {
    expect(codeOf(() => signJws(payload, []))).toBe("key_not_found");
    expect(codeOf(() => signJws(payload, [{ kid: "did:x#1", jwk: generateJwk("X25519") }]))).toBe("unsupported");
    expect(codeOf(() => signJws(payload, [{ kid: "", jwk: ed.jwk }]))).toBe("invalid_key");
  });
});

describe("known answers", () => {
  test("RFC 8037 A.4 (EdDSA) in General JSON form", () => {
    const jws = {
      payload: "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
      signatures: [
        {
          protected: "eyJhbGciOiJFZERTQSJ9",
          header: { kid: "did:example:rfc8037#a1" },
          signature: "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
        },
      ],
    };
    const parsed = parseJws(jws);
    expect(Buffer.from(parsed.payload).toString()).toBe("Example of Ed25519 signing");
    verifyJwsSignature(parsed, 0, { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
  });

  test("RFC 7515 A.3 (ES256) in General JSON form", () => {
    const jws = {
      payload: "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
      signatures: [
        {
          protected: "eyJhbGciOiJFUzI1NiJ9",
          header: { kid: "e9bc097a-ce51-4036-9562-d2ade882db0d" },
          signature: "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
        },
      ],
    };
    const key = {
      kty: "EC" as const,
      crv: "P-256" as const,
      x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    };
    verifyJwsSignature(parseJws(jws), 0, key);
    const tampered = structuredClone(jws);
    tampered.payload = flipB64(jws.payload, 3);
    expect(codeOf(() => verifyJwsSignature(parseJws(tampered), 0, key))).toBe("invalid_signature");
  });
});

describe("tampering and key mismatch", () => {
  for (const signer of [ed, p256]) {
    const jws = signJws(payload, [signer]);
    const key = publicPart(signer.jwk);
    const verify = (j: JwsGeneral, k = key) => verifyJwsSignature(parseJws(j), 0, k);

    test(`${signer.kid}: payload, protected header, signature`, () => {
      expect(codeOf(() => verify(jws))).toBe("no-error");
      expect(codeOf(() => verify({ ...clone(jws), payload: flipB64(jws.payload, 10) }))).toBe("invalid_signature");
      const sig = clone(jws);
      sig.signatures[0]!.signature = flipB64(sig.signatures[0]!.signature, 20);
      expect(codeOf(() => verify(sig))).toBe("invalid_signature");
      const hdr = clone(jws);
      const h = b64uDecodeJson(hdr.signatures[0]!.protected);
      h.typ = "application/didcomm-plain+json";
      hdr.signatures[0]!.protected = b64uEncodeJson(h);
      expect(codeOf(() => verify(hdr))).toBe("invalid_signature");
    });

    test(`${signer.kid}: another key of the same curve, or another curve`, () => {
      expect(codeOf(() => verify(jws, publicPart(generateJwk(signer.jwk.crv))))).toBe("invalid_signature");
      const other = signer.jwk.crv === "Ed25519" ? generateJwk("P-256") : generateJwk("Ed25519");
      expect(codeOf(() => verify(jws, publicPart(other)))).toBe("invalid_signature");
      expect(codeOf(() => verify(jws, publicPart(generateJwk("X25519"))))).toBe("invalid_signature");
    });
  }

  test("alg relabelled to the other algorithm does not verify", () => {
    const jws = signJws(payload, [ed]);
    const h = b64uDecodeJson(jws.signatures[0]!.protected);
    h.alg = "ES256";
    const relabelled = clone(jws);
    relabelled.signatures[0]!.protected = b64uEncodeJson(h);
    expect(codeOf(() => verifyJwsSignature(parseJws(relabelled), 0, publicPart(ed.jwk)))).toBe("invalid_signature");
  });
});

describe("strict parsing", () => {
  const jws = signJws(payload, [ed]);
  const withHeader = (edit: (h: Record<string, unknown>) => void): JwsGeneral => {
    const j = clone(jws);
    const h = b64uDecodeJson(j.signatures[0]!.protected);
    edit(h);
    j.signatures[0]!.protected = b64uEncodeJson(h);
    return j;
  };

  test("isJwsShape", () => {
    expect(isJwsShape(jws)).toBe(true);
    expect(isJwsShape({ protected: "x", recipients: [], ciphertext: "y" })).toBe(false);
    expect(isJwsShape("x")).toBe(false);
  });
  test("unsupported alg / crit / b64=false -> Unsupported", () => {
    for (const alg of ["ES256K", "RS256", "none", "HS256", "Ed25519"]) {
      expect(codeOf(() => parseJws(withHeader((h) => (h.alg = alg))))).toBe("unsupported");
    }
    expect(codeOf(() => parseJws(withHeader((h) => (h.crit = ["b64"]))))).toBe("unsupported");
    expect(codeOf(() => parseJws(withHeader((h) => (h.b64 = false))))).toBe("unsupported");
  });
  test("missing or mistyped fields -> Malformed", () => {
    expect(codeOf(() => parseJws({ ...clone(jws), payload: 1 }))).toBe("malformed");
    expect(codeOf(() => parseJws({ ...clone(jws), payload: "*" }))).toBe("malformed");
    expect(codeOf(() => parseJws({ ...clone(jws), signatures: [] }))).toBe("malformed");
    expect(codeOf(() => parseJws({ payload: jws.payload }))).toBe("malformed");
    expect(codeOf(() => parseJws(withHeader((h) => delete h.alg)))).toBe("malformed");
    expect(codeOf(() => parseJws(withHeader((h) => (h.typ = 3))))).toBe("malformed");
    const noKid = clone(jws) as unknown as { signatures: Record<string, unknown>[] };
    delete noKid.signatures[0]!.header;
    expect(codeOf(() => parseJws(noKid))).toBe("malformed");
    const badHeader = clone(jws) as unknown as { signatures: Record<string, unknown>[] };
    badHeader.signatures[0]!.header = "kid";
    expect(codeOf(() => parseJws(badHeader))).toBe("malformed");
    const shortSig = clone(jws);
    shortSig.signatures[0]!.signature = shortSig.signatures[0]!.signature.slice(0, -4);
    expect(codeOf(() => parseJws(shortSig))).toBe("malformed");
    expect(codeOf(() => parseJws(null))).toBe("malformed");
    expect(codeOf(() => parseJws([jws]))).toBe("malformed");
  });
  test("kid may come from the protected header when the unprotected one has none", () => {
    const j = withHeader((h) => (h.kid = "did:example:alice#ed"));
    delete (j.signatures[0] as { header?: unknown }).header;
    expect(parseJws(j).signatures[0]!.kid).toBe("did:example:alice#ed");
  });
  test("truncated JSON text -> Malformed at every cut", () => {
    const text = JSON.stringify(jws);
    for (let cut = 0; cut < text.length; cut += 5) expect(codeOf(() => parseJws(text.slice(0, cut)))).toBe("malformed");
  });
  test("too many signatures -> TooLarge", () => {
    const j = signJws(payload, [ed, p256, ed]);
    expect(codeOf(() => parseJws(j, { maxSignatures: 2 }))).toBe("too_large");
  });
});
