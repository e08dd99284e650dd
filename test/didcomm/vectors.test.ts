// Spec Appendix C vectors: transcription checked by didcomm-node, then every vector through Haven's unpack.
import { describe, expect, test } from "bun:test";
import { DidcommErrorCode } from "../../src/didcomm/errors.ts";
import { StaticResolver } from "../../src/didcomm/did/resolver.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/memory.ts";
import { unpack } from "../../src/didcomm/pack/index.ts";
import type { DidcommContext } from "../../src/didcomm/pack/types.ts";
import { nodeEnv, nodeUnpack } from "../support/didcomm-node.ts";
import { expectDidcommError } from "../support/errors.ts";
import { DocResolver, KeySecrets } from "../support/world.ts";
import {
  ALICE_DID_DOC,
  ALICE_SECRETS_ALL,
  BOB_DID_DOC,
  BOB_SECRETS,
  INVALID_ANON_P256_EPK_WRONG_POINT,
  SPEC_PLAINTEXT,
  SPEC_VECTORS,
  type ExpectedUnpack,
} from "../fixtures/spec-vectors.ts";

/** The plaintext as Haven reports it: `typ` is an envelope hint, so compare without it. */
function withoutTyp(m: Record<string, unknown>): Record<string, unknown> {
  const { typ: _typ, ...rest } = m;
  return rest;
}
const WANT = withoutTyp({ ...SPEC_PLAINTEXT });

describe("spec vectors: fixtures are transcribed correctly (didcomm-node decrypts/verifies them)", () => {
  const env = nodeEnv(new DocResolver([ALICE_DID_DOC, BOB_DID_DOC]), new KeySecrets(BOB_SECRETS));
  for (const v of SPEC_VECTORS) {
    // didcomm-node supports ES256K but, like Haven, not P-384/P-521 key agreement.
    if (v.outOfScope && !v.outOfScope.startsWith("ES256K")) continue;
    test(v.name, async () => {
      const out = await nodeUnpack(v.packed, env);
      expect(withoutTyp(out.message)).toEqual(WANT);
      if (v.expected) {
        expect(out.metadata.encrypted).toBe(v.expected.encrypted);
        expect(out.metadata.authenticated).toBe(v.expected.authenticated);
        expect(out.metadata.non_repudiation).toBe(v.expected.nonRepudiation);
        expect(out.metadata.anonymous_sender).toBe(v.expected.anonymousSender);
        expect(out.metadata.encrypted_from_kid ?? undefined).toBe(v.expected.encryptedFromKid);
        expect(out.metadata.sign_from ?? undefined).toBe(v.expected.signFrom);
        if (v.expected.encryptedToKids) expect(out.metadata.encrypted_to_kids).toEqual(v.expected.encryptedToKids);
      }
    });
  }
  test("the published Alice secrets include the out-of-scope curves", () => {
    expect(ALICE_SECRETS_ALL.map((s) => s.crv).sort()).toEqual(["Ed25519", "P-256", "P-256", "P-521", "X25519", "secp256k1"]);
  });
});

function bobCtx(secrets = BOB_SECRETS): DidcommContext {
  return { resolver: new StaticResolver([ALICE_DID_DOC, BOB_DID_DOC]), secrets: new MemorySecrets(secrets) };
}

function checkMetadata(got: Record<string, unknown>, want: ExpectedUnpack): void {
  expect(got.encrypted).toBe(want.encrypted);
  expect(got.authenticated).toBe(want.authenticated);
  expect(got.nonRepudiation).toBe(want.nonRepudiation);
  expect(got.anonymousSender).toBe(want.anonymousSender);
  expect(got.encryptedFromKid).toBe(want.encryptedFromKid);
  expect(got.signFrom).toBe(want.signFrom);
  if (want.signAlg) expect(got.signAlg).toBe(want.signAlg);
  if (want.encryptedToKids) expect(got.encryptedToKids).toEqual(want.encryptedToKids);
  else expect(got.encryptedToKids ?? []).toEqual([]);
  expect(got.sender).toEqual(want.sender);
}

describe("spec vectors through Haven's unpack (StaticResolver of Alice/Bob, MemorySecrets of Bob)", () => {
  for (const v of SPEC_VECTORS) {
    if (v.expected) {
      const want = v.expected;
      test(`${v.name}: plaintext and metadata`, async () => {
        const { message, metadata } = await unpack(v.packed, bobCtx());
        expect(withoutTyp(message)).toEqual(WANT);
        checkMetadata(metadata as unknown as Record<string, unknown>, want);
      });
    } else {
      test(`${v.name}: refused as Unsupported (${v.outOfScope})`, async () => {
        await expectDidcommError(() => unpack(v.packed, bobCtx()), DidcommErrorCode.Unsupported);
      });
    }
  }

  test("encrypted vectors decrypt with any single one of Bob's listed keys (not just the first recipient)", async () => {
    for (const v of SPEC_VECTORS) {
      if (!v.expected?.encrypted) continue;
      for (const kid of v.expected.encryptedToKids ?? []) {
        const only = BOB_SECRETS.filter((s) => s.kid === kid);
        expect(only.length).toBe(1);
        const { message, metadata } = await unpack(v.packed, bobCtx(only));
        expect(withoutTyp(message)).toEqual(WANT);
        expect(metadata.sender).toEqual(v.expected.sender);
      }
    }
  });

  test("the same vectors as bytes (Uint8Array) unpack identically", async () => {
    for (const v of SPEC_VECTORS) {
      if (!v.expected) continue;
      const { message } = await unpack(new TextEncoder().encode(v.packed), bobCtx());
      expect(withoutTyp(message)).toEqual(WANT);
    }
  });

  test("encrypted vectors without any of Bob's keys: NoRecipient", async () => {
    for (const v of SPEC_VECTORS) {
      if (!v.expected?.encrypted) continue;
      await expectDidcommError(() => unpack(v.packed, bobCtx([])), DidcommErrorCode.NoRecipient);
    }
  });

  test("didcomm-rust invalid vector (P-256 EPK not on the curve) is a typed error", async () => {
    await expectDidcommError(
      () => unpack(INVALID_ANON_P256_EPK_WRONG_POINT, bobCtx()),
      DidcommErrorCode.Malformed,
      DidcommErrorCode.InvalidKey,
    );
  });

  test("the invalid-EPK vector with its base64 padding removed is still refused (InvalidKey: point not on curve)", async () => {
    const env = JSON.parse(INVALID_ANON_P256_EPK_WRONG_POINT) as Record<string, unknown>;
    const header = JSON.parse(Buffer.from(String(env.protected), "base64").toString("utf8")) as Record<string, unknown>;
    delete header.apu; // `"apu": null` is itself malformed; isolate the EPK check
    env.protected = Buffer.from(JSON.stringify(header)).toString("base64url");
    await expectDidcommError(() => unpack(JSON.stringify(env), bobCtx()), DidcommErrorCode.InvalidKey, DidcommErrorCode.DecryptFailed);
  });
});
