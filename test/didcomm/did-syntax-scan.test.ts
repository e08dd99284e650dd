// The hand-written DID / DID URL scanners accept exactly what the regular expressions they replaced accept.
import { describe, expect, test } from "bun:test";
import { createPeer2 } from "../../src/didcomm/did/index.ts";
import { generateJwk } from "../../src/didcomm/keys/generate.ts";
import { publicPart } from "../../src/didcomm/keys/jwk.ts";
import { isDid, isDidUrl } from "../../src/didcomm/message/did-syntax.ts";

// The reference: the exact expressions did-syntax.ts used before (kept here so the two can never drift apart).
const DID_RE = /^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._=-]|%[0-9A-Fa-f]{2})+$/;
const DID_URL_TAIL_RE = /^[/?#][\x21\x23-\x3b\x3d\x3f-\x7e]*$/;
function refIsDid(v: unknown): boolean {
  return typeof v === "string" && DID_RE.test(v);
}
function refIsDidUrl(v: unknown): boolean {
  if (typeof v !== "string") return false;
  const m = /[/?#]/.exec(v);
  if (m === null) return DID_RE.test(v);
  return DID_RE.test(v.slice(0, m.index)) && DID_URL_TAIL_RE.test(v.slice(m.index));
}

/** xorshift64*: a small seeded generator, so a failure replays with SEED=... */
function rng(seed: bigint): () => number {
  let x = seed === 0n ? 0x9e3779b97f4a7c15n : seed;
  const mask = (1n << 64n) - 1n;
  return () => {
    x ^= x >> 12n;
    x ^= (x << 25n) & mask;
    x ^= x >> 27n;
    return Number(((x * 0x2545f4914f6cdd1dn) & mask) >> 11n) / 2 ** 53;
  };
}

// Characters around every boundary of the grammar: class edges, delimiters, the excluded tail characters, non-ASCII.
const ALPHABET = [..."did:abcfgzAFGZ0789._=-%:/?#@!\"<>;=[]{}~ \t\n", "\u007f", "\u0080", "é", "\u{1F600}", "\u0000", "`", "^", "|", "\\"];

function randomInput(next: () => number, base: readonly string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const r = next();
  if (r < 0.4) {
    // A mutation of a realistic value: replace, insert or delete a few characters.
    const chars = [...pick(base)];
    const edits = 1 + Math.floor(next() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * (chars.length + 1));
      const op = next();
      if (op < 0.4) chars.splice(at, 1, pick(ALPHABET));
      else if (op < 0.7) chars.splice(at, 0, pick(ALPHABET));
      else chars.splice(at, 1);
    }
    return chars.join("");
  }
  if (r < 0.7) {
    // "did:" + a method + ":" + random units, so most inputs get deep into the grammar.
    const len = Math.floor(next() * 14);
    let s = `did:${pick(["a", "peer", "key", "web", "A", "", "x1", "p-2"])}:`;
    for (let i = 0; i < len; i++) s += next() < 0.15 ? `%${pick([..."0aF", "g", ""])}${pick([..."9bE", "z", ""])}` : pick(ALPHABET);
    return s;
  }
  const len = Math.floor(next() * 12);
  let s = "";
  for (let i = 0; i < len; i++) s += pick(ALPHABET);
  return s;
}

describe("DID syntax scanners", () => {
  const peer2 = createPeer2({
    authenticationKeys: [publicPart(generateJwk("Ed25519"))],
    agreementKeys: [publicPart(generateJwk("X25519"))],
    services: [{ uri: "https://mediator.example/didcomm", accept: ["didcomm/v2"] }],
  });
  const fixed = [
    "did:example:123",
    "did:web:example.com:user:alice",
    "did:web:example.com%3A8443",
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    peer2,
    `${peer2}#key-1`,
    `${peer2}#6LSabc`,
    "did:example:a/path?query=1#frag",
    "did:a:b",
    "did:a:",
    "did::b",
    "did:A:b",
    "did:a:b:",
    "did:a::b",
    "did:a:%4",
    "did:a:%4g",
    "did:a:%41",
    "did:a:b\n",
    "did:a:b#frag ment",
    "did:a:b#<x>",
    'did:a:b#"',
    "did:a:b#",
    "did:a:b/",
    "did:a:b?x#y/z",
    "did:a:#x",
    "DID:a:b",
    "did:a:b=",
    "did:a:é",
    "",
    "did",
    "did:",
  ];

  test("fixed cases and a real did:peer:2: same verdicts as the regular expressions", () => {
    expect(isDid(peer2)).toBe(true);
    expect(isDidUrl(`${peer2}#key-2`)).toBe(true);
    for (const v of fixed) {
      expect({ v, isDid: isDid(v), isDidUrl: isDidUrl(v) }).toEqual({ v, isDid: refIsDid(v), isDidUrl: refIsDidUrl(v) });
    }
    for (const v of [undefined, null, 42, {}, ["did:a:b"]]) {
      expect(isDid(v)).toBe(false);
      expect(isDidUrl(v)).toBe(false);
    }
  });

  test("seeded random and mutated inputs: same verdicts as the regular expressions (replay with SEED=...)", () => {
    const seed = BigInt.asUintN(64, BigInt(process.env.SEED ?? String(BigInt(Date.now()) * 2654435761n)));
    console.log(`did-syntax scan SEED=${seed}`);
    const next = rng(seed);
    let accepted = 0;
    for (let i = 0; i < 30_000; i++) {
      const v = randomInput(next, fixed);
      const got = { v, isDid: isDid(v), isDidUrl: isDidUrl(v) };
      const want = { v, isDid: refIsDid(v), isDidUrl: refIsDidUrl(v) };
      if (got.isDid !== want.isDid || got.isDidUrl !== want.isDidUrl) expect(got).toEqual(want);
      if (want.isDidUrl) accepted++;
    }
    // The generator must exercise both verdicts, or the comparison proves little.
    expect(accepted).toBeGreaterThan(1000);
    expect(accepted).toBeLessThan(29_000);
  });
});
