// Seeded fuzzing of unpack: random and mutated envelopes must yield success or a DidcommError, and success only
// when the input still means the same thing. Prints its seed; replay with SEED=<n> bun test test/didcomm/fuzz.test.ts.
import { describe, expect, test } from "bun:test";
import { DidcommError } from "../../src/didcomm/errors.ts";
import { StaticResolver } from "../../src/didcomm/did/resolver.ts";
import { MemorySecrets } from "../../src/didcomm/secrets/memory.ts";
import { unpack, unpackForward } from "../../src/didcomm/pack/index.ts";
import type { DidcommContext, UnpackResult } from "../../src/didcomm/pack/types.ts";
import { FUZZ_CORPUS } from "../fixtures/fuzz-corpus.ts";
import { ALICE_DID_DOC, BOB_DID_DOC, BOB_SECRETS, SPEC_VECTORS } from "../fixtures/spec-vectors.ts";
import { describe as describeError } from "../support/errors.ts";
import { Rng, seedFromEnv } from "../support/random.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 50_000);
const SEED = seedFromEnv();
console.log(`fuzz: SEED=${SEED} cases=${CASES} (replay: SEED=${SEED} bun test test/didcomm/fuzz.test.ts)`);

const ctx: DidcommContext = {
  resolver: new StaticResolver([ALICE_DID_DOC, BOB_DID_DOC]),
  secrets: new MemorySecrets(BOB_SECRETS),
  maxEnvelopeBytes: 64 * 1024,
};
/** The message text unpack's last-resort wrapper uses when a lower layer threw something untyped (a bug). */
const SAFETY_NET_MESSAGE = "envelope could not be unpacked";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

interface Base {
  name: string;
  packed: string;
  /** Unpack result of the unmutated envelope: the only result a mutated protected envelope may produce. */
  expected: UnpackResult;
  /** A bare plaintext has no integrity: any well-formed edit may legitimately succeed. */
  unprotected: boolean;
}

async function loadBases(): Promise<Base[]> {
  const all = [...SPEC_VECTORS.filter((v) => v.expected).map((v) => ({ name: v.name, packed: v.packed })), ...FUZZ_CORPUS];
  const out: Base[] = [];
  for (const b of all) {
    const expected = await unpack(b.packed, ctx);
    out.push({ ...b, expected, unprotected: !expected.metadata.encrypted && !expected.metadata.nonRepudiation });
  }
  return out;
}

// ---- mutation toolbox ----

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/{}[]\":,. \\\u00e9\u0000";
const DICTIONARY: Json[] = [
  null, true, false, 0, -1, 1e308, 2 ** 53 + 1, 0.5, "", "A", "AAAA", "=", "null", "did:example:bob#key-x25519-1",
  "did:example:alice#key-p256-1", "did:example:alice#key-1", "did:example:nobody#k", "ECDH-ES+A256KW", "ECDH-1PU+A256KW",
  "A256CBC-HS512", "A256GCM", "XC20P", "EdDSA", "ES256", "ES256K", "none", "X25519", "P-256", "P-521", "OKP", "EC",
  "application/didcomm-encrypted+json", "application/didcomm-signed+json", "application/didcomm-plain+json",
  [], [null], {}, { kid: "did:example:bob#key-x25519-1" }, "x".repeat(5000),
];
const B64_FIELDS = new Set(["protected", "ciphertext", "iv", "tag", "encrypted_key", "signature", "payload", "apu", "apv", "x", "y"]);

function randomString(rng: Rng, maxLen: number): string {
  let s = "";
  const n = rng.int(maxLen + 1);
  for (let i = 0; i < n; i++) s += ALPHABET[rng.int(ALPHABET.length)];
  return s;
}

function randomJson(rng: Rng, depth = 0): Json {
  const k = rng.int(depth > 2 ? 4 : 6);
  if (k === 0) return structuredClone(rng.pick(DICTIONARY)); // a copy: shared dictionary objects would let a later edit build a cycle
  if (k === 1) return rng.int(2 ** 31) - 2 ** 30;
  if (k === 2) return randomString(rng, 24);
  if (k === 3) return rng.bool();
  if (k === 4) return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
  const o: Obj = {};
  for (let i = rng.int(4); i > 0; i--) o[randomString(rng, 8)] = randomJson(rng, depth + 1);
  return o;
}

/** Every (container, key) slot in a JSON tree, for picking a random field to mutate. */
function slots(root: Json, out: { parent: Obj | Json[]; key: string | number; path: string }[] = [], path = ""): typeof out {
  if (Array.isArray(root)) root.forEach((v, i) => (out.push({ parent: root, key: i, path: `${path}[${i}]` }), slots(v, out, `${path}[${i}]`)));
  else if (root !== null && typeof root === "object") {
    for (const k of Object.keys(root)) {
      out.push({ parent: root, key: k, path: `${path}.${k}` });
      slots(root[k]!, out, `${path}.${k}`);
    }
  }
  return out;
}

function decodeB64Json(s: string): Json | undefined {
  try {
    return JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Json;
  } catch {
    return undefined;
  }
}
const encodeB64Json = (v: Json) => Buffer.from(JSON.stringify(v), "utf8").toString("base64url");

function flipB64(rng: Rng, s: string): string {
  const bytes = Buffer.from(s, "base64url");
  if (bytes.length === 0) return "AA";
  bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
  return bytes.toString("base64url");
}

/** One structural edit of a parsed envelope (in place); returns a label for statistics. */
function mutateTree(rng: Rng, root: Obj): string {
  const all = slots(root);
  if (all.length === 0) return "empty";
  const s = rng.pick(all);
  const value = (s.parent as Record<string | number, Json>)[s.key];
  switch (rng.int(7)) {
    case 0: // delete the field / element
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      return "delete";
    case 1: // type swap / dictionary value
      (s.parent as Record<string | number, Json>)[s.key] = rng.bool() ? structuredClone(rng.pick(DICTIONARY)) : randomJson(rng);
      return "replace";
    case 2: // bit flip inside a base64url member
      if (typeof value === "string" && B64_FIELDS.has(String(s.key))) {
        (s.parent as Record<string | number, Json>)[s.key] = flipB64(rng, value);
        return "b64flip";
      }
      return mutateTree(rng, root);
    case 3: {
      // rewrite a base64url(JSON) member (protected header or JWS payload) with a nested structural edit
      const b64json = all.filter((x) => {
        const v = (x.parent as Record<string | number, Json>)[x.key];
        return (x.key === "protected" || x.key === "payload") && typeof v === "string";
      });
      if (b64json.length === 0) return mutateTree(rng, root);
      const t = rng.pick(b64json);
      const decoded = decodeB64Json((t.parent as Record<string | number, Json>)[t.key] as string);
      if (decoded === undefined || decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) return "header-skip";
      const label = mutateTree(rng, decoded);
      (t.parent as Record<string | number, Json>)[t.key] = encodeB64Json(decoded);
      return `header-${label}`;
    }
    case 4: // duplicate an array element or add a stray member
      if (Array.isArray(value) && value.length > 0) {
        value.push(structuredClone(rng.pick(value)));
        return "dup";
      }
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        (value as Obj)[rng.pick(["kid", "alg", "enc", "epk", "skid", "apu", "crit", "zip", "extra"])] = randomJson(rng);
        return "add";
      }
      return mutateTree(rng, root);
    case 5: // reorder an array (recipients / signatures)
      if (Array.isArray(value) && value.length > 1) {
        value.reverse();
        return "reverse";
      }
      return mutateTree(rng, root);
    default: // string edits keep the type but change content
      if (typeof value === "string") {
        const cut = rng.int(value.length + 1);
        (s.parent as Record<string | number, Json>)[s.key] = rng.bool() ? value.slice(0, cut) : value.slice(0, cut) + randomString(rng, 4) + value.slice(cut);
        return "str-edit";
      }
      return mutateTree(rng, root);
  }
}

/** One text-level edit: the parser must survive arbitrary bytes. */
function mutateText(rng: Rng, text: string): string {
  const i = rng.int(text.length + 1);
  switch (rng.int(5)) {
    case 0:
      return text.slice(0, i); // truncation
    case 1:
      return text.slice(0, i) + ALPHABET[rng.int(ALPHABET.length)] + text.slice(i + 1); // char replace
    case 2:
      return text.slice(0, i) + randomString(rng, 16) + text.slice(i); // insertion
    case 3: {
      const j = Math.min(text.length, i + 1 + rng.int(64));
      return text.slice(0, i) + text.slice(j); // span deletion
    }
    default: {
      const j = Math.min(text.length, i + 1 + rng.int(64));
      return text.slice(0, j) + text.slice(i, j) + text.slice(j); // span duplication
    }
  }
}

type Input = { data: string | Uint8Array; label: string; base?: Base; viaForward: boolean };

function makeInput(rng: Rng, bases: Base[]): Input {
  const r = rng.int(100);
  if (r < 3) return { data: rng.bytes(rng.int(256)), label: "random-bytes", viaForward: false };
  if (r < 6) return { data: JSON.stringify(randomJson(rng)), label: "random-json", viaForward: false };
  const base = rng.pick(bases);
  const viaForward = base.name.includes("forward") && rng.bool(0.5);
  if (r < 30) {
    let text = base.packed;
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) text = mutateText(rng, text);
    return { data: text, label: "text", base, viaForward };
  }
  const tree = JSON.parse(base.packed) as Obj;
  const labels: string[] = [];
  for (let i = 1 + rng.int(2); i > 0; i--) labels.push(mutateTree(rng, tree));
  return { data: JSON.stringify(tree), label: labels.join("+"), base, viaForward };
}

/** Comparable view of a result: message plus the security-relevant metadata. */
function digest(r: UnpackResult): string {
  const m = r.metadata;
  return JSON.stringify({
    message: r.message,
    encrypted: m.encrypted,
    authenticated: m.authenticated,
    nonRepudiation: m.nonRepudiation,
    sender: m.sender,
    encryptedFromKid: m.encryptedFromKid,
    signFrom: m.signFrom,
  });
}

describe("fuzz: unpack never throws anything but DidcommError, and never accepts a changed meaning", () => {
  test(
    `${CASES} seeded cases`,
    async () => {
      const bases = await loadBases();
      const expectedDigest = new Map(bases.map((b) => [b, digest(b.expected)]));
      const rng = new Rng(SEED);
      const outcomes = new Map<string, number>();
      const bump = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      const failures: string[] = [];

      for (let i = 0; i < CASES && failures.length < 5; i++) {
        const input = makeInput(rng, bases);
        let result: UnpackResult | undefined;
        try {
          result = input.viaForward ? await unpackForward(input.data, ctx) : await unpack(input.data, ctx);
        } catch (e) {
          if (!(e instanceof DidcommError)) {
            failures.push(`case ${i} (${input.label} on ${input.base?.name ?? "-"}): non-DidcommError ${describeError(e)}`);
          } else if (e.message === SAFETY_NET_MESSAGE) {
            failures.push(`case ${i} (${input.label} on ${input.base?.name ?? "-"}): untyped error reached unpack's safety net: ${describeError(e.cause)}`);
          } else {
            bump(e.code);
          }
          continue;
        }
        bump("success");
        // Success is only legitimate when the meaning is unchanged (or the base had no integrity to begin with).
        const base = input.base;
        if (base === undefined) {
          if (result.metadata.encrypted || result.metadata.authenticated) failures.push(`case ${i}: random input unpacked as protected`);
          continue;
        }
        if (base.unprotected) {
          if (result.metadata.encrypted || result.metadata.authenticated) failures.push(`case ${i}: plaintext edit claimed protection`);
          continue;
        }
        if (digest(result) !== expectedDigest.get(base)) {
          failures.push(`case ${i} (${input.label} on ${base.name}): mutated envelope accepted with a different meaning`);
        }
      }
      console.log(`fuzz: outcomes ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
      if (failures.length > 0) console.log(`fuzz: SEED=${SEED}\n${failures.join("\n")}`);
      expect(failures).toEqual([]);
      // The generator must actually reach deep layers, not just bounce off the JSON parser.
      expect(outcomes.get("decrypt_failed") ?? 0).toBeGreaterThan(CASES / 50);
      expect(outcomes.get("malformed") ?? 0).toBeGreaterThan(CASES / 50);
      expect(outcomes.get("success") ?? 0).toBeGreaterThan(0);
    },
    60_000,
  );
});
