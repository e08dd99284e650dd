// RawJson splicing: byte-identical to JSON.stringify of the parsed value, safe fallbacks, and packed deliveries that
// Haven and didcomm-node (didcomm-rust) both unpack to the same message.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/didcomm/message/types.ts";
import { packEncrypted, packSigned, RawJson, serializeJsonBytes, unpack } from "../../src/didcomm/pack/index.ts";
import { nodeEnv, nodeUnpack } from "../support/didcomm-node.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { DocResolver, KeySecrets, makeParty } from "../support/world.ts";

const utf8 = (s: string) => Buffer.from(s, "utf8");
const raw = (value: unknown, pad = "") => {
  const r = RawJson.ofObjectBytes(utf8(`${pad}${JSON.stringify(value)}${pad}`));
  if (r === undefined) throw new Error("test value is not raw-JSON eligible");
  return r;
};

describe("RawJson.ofObjectBytes", () => {
  test("accepts UTF-8 object text, surrounding JSON whitespace included", () => {
    expect(RawJson.ofObjectBytes(utf8('{"a":1}'))).toBeInstanceOf(RawJson);
    expect(RawJson.ofObjectBytes(utf8(' \t\r\n{"é":"✓ 🌍"}\n'))).toBeInstanceOf(RawJson);
    expect(RawJson.ofObjectBytes(utf8("{}"))).toBeInstanceOf(RawJson);
  });

  test("refuses anything else, so the caller falls back to base64", () => {
    for (const text of ["", " ", "{", "}", "[1,2]", '"s"', "42", "null", "{} x", "x {}"]) {
      expect(RawJson.ofObjectBytes(utf8(text))).toBeUndefined();
    }
    expect(RawJson.ofObjectBytes(new Uint8Array([0x7b, 0xff, 0x7d]))).toBeUndefined(); // not UTF-8
    expect(RawJson.ofObjectBytes(new Uint8Array([0x7b, 0xc3, 0x7d]))).toBeUndefined(); // truncated sequence
    expect(RawJson.ofObjectBytes("{}" as unknown as Uint8Array)).toBeUndefined();
  });

  test("outside serializeJsonBytes it serialises as the parsed value", () => {
    const value = { a: [1, { b: "ü" }], c: null };
    expect(JSON.stringify({ x: raw(value) })).toBe(JSON.stringify({ x: value }));
    expect(JSON.parse(JSON.stringify([raw(value, "  ")]))).toEqual([value]);
  });
});

describe("serializeJsonBytes", () => {
  test("without RawJson values it is JSON.stringify as UTF-8", () => {
    const v = { s: "héllo ✓ 🌍 \u0000 \"q\" \u2028", n: [1, 2.5, -0, 1e21], t: true, z: null, u: undefined };
    expect(Buffer.from(serializeJsonBytes(v)).toString("utf8")).toBe(JSON.stringify(v));
  });

  test("splices raw bytes verbatim, whitespace and all, in document order", () => {
    const a = utf8(' {"k" : "ü"} ');
    const b = utf8('{"n":[1,2]}');
    const out = serializeJsonBytes({ before: "✓", list: [RawJson.ofObjectBytes(a), { data: { json: RawJson.ofObjectBytes(b) } }], after: "🌍" });
    expect(Buffer.from(out).toString("utf8")).toBe(`{"before":"✓","list":[ {"k" : "ü"} ,{"data":{"json":{"n":[1,2]}}}],"after":"🌍"}`);
  });

  test("a string that looks like a placeholder is left alone", () => {
    const fake = "00000000-0000-4000-8000-000000000000:0";
    const out = serializeJsonBytes({ s: fake, r: raw({ x: 1 }), t: `"${fake}"` });
    expect(JSON.parse(Buffer.from(out).toString("utf8"))).toEqual({ s: fake, r: { x: 1 }, t: `"${fake}"` });
  });

  test("a RawJson at the top level is its bytes", () => {
    expect(Buffer.from(serializeJsonBytes(raw({ a: "b" }))).toString("utf8")).toBe('{"a":"b"}');
  });

  test("randomised: equal to JSON.stringify of the parsed equivalent", () => {
    const seed = seedFromEnv();
    console.log(`raw-json fuzz SEED=${seed}`);
    const rng = new Rng(seed);
    const strings = ["", "a", "ü", "✓", "🌍", '"', "\\", "\u0000", "\n", "{", "}", ":0", "\ud800"];
    const leaf = (): unknown => {
      switch (rng.int(5)) {
        case 0:
          return rng.int(1_000_000) - 500_000;
        case 1:
          return rng.bool();
        case 2:
          return null;
        default:
          return Array.from({ length: rng.int(4) }, () => rng.pick(strings)).join("");
      }
    };
    const value = (depth: number): unknown => {
      if (depth > 3 || rng.bool(0.3)) return leaf();
      if (rng.bool()) return Array.from({ length: rng.int(4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[rng.pick(strings) + i] = value(depth + 1);
      return o;
    };
    // Replaces some objects by RawJson of their text; returns the value with RawJson and its plain twin.
    const withRaw = (v: unknown): [unknown, unknown] => {
      if (Array.isArray(v)) {
        const pairs = v.map(withRaw);
        return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
      }
      if (v !== null && typeof v === "object") {
        if (rng.bool(0.4)) return [raw(v, rng.bool(0.2) ? " " : ""), JSON.parse(JSON.stringify(v))];
        const a: Record<string, unknown> = {};
        const b: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) [a[k], b[k]] = withRaw(x);
        return [a, b];
      }
      return [v, v];
    };
    for (let i = 0; i < 300; i++) {
      const [spliced, plain] = withRaw({ root: value(0), more: [value(1), value(1)] });
      const text = Buffer.from(serializeJsonBytes(spliced)).toString("utf8");
      expect(JSON.parse(text)).toEqual(plain as Record<string, unknown>);
      if (!text.includes(" ")) expect(text).toBe(JSON.stringify(plain)); // no padded raw value: byte-identical
    }
  });
});

describe("packed deliveries with RawJson attachments", () => {
  const mediator = makeParty("mediator", { ed25519: 1 });
  const client = makeParty("client");
  const resolver = new DocResolver([mediator.doc, client.doc]);
  const stored = [{ protected: "eyJ0eXAiOiJ4In0", ciphertext: "abc", note: "ü ✓ 🌍" }, { any: { nested: [1, 2, null] } }];
  const delivery = (): Message => ({
    id: "delivery-1",
    type: "https://didcomm.org/messagepickup/3.0/delivery",
    from: mediator.did,
    to: [client.did],
    thid: "t-1",
    body: {},
    attachments: stored.map((s, i) => ({ id: `m${i}`, media_type: "application/didcomm-encrypted+json", data: { json: raw(s) } })),
  });
  const expected = stored.map((s, i) => ({ id: `m${i}`, media_type: "application/didcomm-encrypted+json", data: { json: s } }));

  test("authcrypt: Haven and didcomm-node unpack the spliced envelopes", async () => {
    const { packed } = await packEncrypted(delivery(), client.did, { resolver, secrets: new KeySecrets(mediator.keys) }, { from: mediator.did, forward: false });
    const haven = await unpack(packed, { resolver, secrets: new KeySecrets(client.keys) });
    expect(haven.message.attachments).toEqual(expected);
    expect(haven.metadata.sender.kind).toBe("authcrypt");
    const node = await nodeUnpack(packed, nodeEnv(resolver, new KeySecrets(client.keys)));
    expect(node.message.attachments).toEqual(expected);
    expect(node.metadata.authenticated).toBe(true);
  });

  test("signed (JWS payload) and anoncrypt: the same attachments come out", async () => {
    const signed = await packSigned(delivery(), mediator.did, { resolver, secrets: new KeySecrets(mediator.keys) });
    expect((await unpack(signed, { resolver, secrets: new KeySecrets([]) })).message.attachments).toEqual(expected);
    const node = await nodeUnpack(signed, nodeEnv(resolver, new KeySecrets([])));
    expect(node.message.attachments).toEqual(expected);
    const { packed } = await packEncrypted(delivery(), client.did, { resolver, secrets: new KeySecrets([]) }, { forward: false });
    expect((await nodeUnpack(packed, nodeEnv(resolver, new KeySecrets(client.keys)))).message.attachments).toEqual(expected);
  });
});
