// Tests for the DIDComm v2 plaintext message model: strict parsing, bounds, expiry, forward helpers.
import { describe, expect, test } from "bun:test";
import { DidcommError } from "../../src/didcomm/errors.ts";
import {
  FORWARD_TYPE,
  buildForward,
  isDid,
  isDidUrl,
  newMessage,
  parseForward,
  parseMessage,
  type Message,
} from "../../src/didcomm/message/index.ts";

const TYPE = "https://example.org/protocols/lunch/1.0/proposal";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DidcommError);
    return (e as DidcommError).code;
  }
  throw new Error("expected a DidcommError");
}

function full(): Record<string, unknown> {
  return {
    id: "1234567890",
    typ: "application/didcomm-plain+json",
    type: TYPE,
    from: "did:example:alice",
    to: ["did:example:bob", "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.SeyJ0IjoiZG0ifQ=="],
    thid: "t-1",
    pthid: "pt-1",
    created_time: 1516269022,
    expires_time: 1516385931,
    from_prior: "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2ln",
    body: { messagespecificattribute: "and its value" },
    attachments: [
      { id: "a1", description: "d", filename: "f.txt", media_type: "text/plain", format: "x", lastmod_time: 1, byte_count: 3, data: { base64: "YWJj" } },
      { data: { json: { any: ["json"] }, jws: { payload: "", signatures: [] } } },
      { data: { links: ["https://example.org/blob"], hash: "zQm..." } },
    ],
    return_route: "thread",
    please_ack: [""],
    ack: ["m-0"],
    lang: "en",
    "x-custom": { keep: true },
  };
}

describe("parseMessage", () => {
  test("accepts every standard header and preserves custom ones", () => {
    const input = full();
    const m = parseMessage(input);
    expect(m.id).toBe("1234567890");
    expect(m.attachments).toHaveLength(3);
    expect(m["x-custom"]).toEqual({ keep: true });
  });

  test("accepts the minimal message and JSON text", () => {
    const m = parseMessage(JSON.stringify({ id: "1", type: TYPE, body: {} }));
    expect(m.body).toEqual({});
  });

  test("non-JSON and non-object input are rejected", () => {
    expect(codeOf(() => parseMessage("{not json"))).toBe("malformed");
    expect(codeOf(() => parseMessage('{"id":"1","type":"x:y","bo'))).toBe("malformed");
    expect(codeOf(() => parseMessage("[1]"))).toBe("malformed");
    expect(codeOf(() => parseMessage(null))).toBe("invalid_message");
    expect(codeOf(() => parseMessage([]))).toBe("invalid_message");
  });

  const bad: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ["missing id", (m) => delete m.id, /id is required/],
    ["empty id", (m) => (m.id = ""), /id must not be empty/],
    ["numeric id", (m) => (m.id = 5), /id must be a string/],
    ["missing type", (m) => delete m.type, /type is required/],
    ["non-URI type", (m) => (m.type = "lunch proposal"), /type must be a URI/],
    ["missing body", (m) => delete m.body, /body is required/],
    ["array body", (m) => (m.body = []), /body is required/],
    ["null body", (m) => (m.body = null), /body is required/],
    ["wrong typ", (m) => (m.typ = "application/json"), /typ must be/],
    ["from with fragment", (m) => (m.from = "did:example:alice#key-1"), /from must be a DID/],
    ["from not a DID", (m) => (m.from = "alice"), /from must be a DID/],
    ["to not an array", (m) => (m.to = "did:example:bob"), /to must be an array/],
    ["to entry not a DID", (m) => (m.to = ["bob"]), /to entries must be DIDs/],
    ["to entry with fragment", (m) => (m.to = ["did:example:bob#k"]), /to entries must be DIDs/],
    ["float created_time", (m) => (m.created_time = 1.5), /created_time/],
    ["string expires_time", (m) => (m.expires_time = "1516385931"), /expires_time/],
    ["negative expires_time", (m) => (m.expires_time = -1), /expires_time/],
    ["bad return_route", (m) => (m.return_route = "sometimes"), /return_route/],
    ["please_ack not an array", (m) => (m.please_ack = "yes"), /please_ack/],
    ["ack with number", (m) => (m.ack = [1]), /ack must be an array/],
    ["thid not a string", (m) => (m.thid = {}), /thid must be a string/],
    ["lang not a string", (m) => (m.lang = 1), /lang must be a string/],
    ["from_prior not a JWT", (m) => (m.from_prior = "abc"), /from_prior must be a compact JWT/],
    ["from_prior without from", (m) => delete m.from, /from_prior requires from/],
    ["attachments not an array", (m) => (m.attachments = {}), /attachments must be an array/],
    ["attachment without data", (m) => (m.attachments = [{ id: "x" }]), /attachments\[0\]\.data is required/],
    ["attachment with two data kinds", (m) => (m.attachments = [{ data: { base64: "YQ", json: {} } }]), /exactly one of/],
    ["attachment with no data kind", (m) => (m.attachments = [{ data: { hash: "h" } }]), /exactly one of/],
    ["links without hash", (m) => (m.attachments = [{ data: { links: ["https://x"] } }]), /hash is required with links/],
    ["empty links", (m) => (m.attachments = [{ data: { links: [], hash: "h" } }]), /links must be an array/],
    ["bad base64", (m) => (m.attachments = [{ data: { base64: "not base64!" } }]), /base64 is not valid/],
    ["bad byte_count", (m) => (m.attachments = [{ byte_count: -3, data: { json: 1 } }]), /byte_count/],
    ["bad lastmod_time", (m) => (m.attachments = [{ lastmod_time: "now", data: { json: 1 } }]), /lastmod_time/],
    ["bad filename", (m) => (m.attachments = [{ filename: 7, data: { json: 1 } }]), /filename must be a string/],
    ["bad jws", (m) => (m.attachments = [{ data: { json: 1, jws: 7 } }]), /jws must be/],
  ];
  for (const [name, mutate, pattern] of bad) {
    test(`rejects ${name}`, () => {
      const m = full();
      mutate(m);
      let err: unknown;
      try {
        parseMessage(m);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DidcommError);
      expect((err as DidcommError).code).toBe("invalid_message");
      expect((err as DidcommError).message).toMatch(pattern);
    });
  }

  test("enforces bounds (attachments, header length, list entries, header count)", () => {
    const many = { id: "1", type: TYPE, body: {}, attachments: Array.from({ length: 3 }, () => ({ data: { json: {} } })) };
    expect(() => parseMessage(many, { maxAttachments: 3 })).not.toThrow();
    expect(() => parseMessage(many, { maxAttachments: 2 })).toThrow(/attachments exceed 2/);
    expect(codeOf(() => parseMessage(many, { maxAttachments: 2 }))).toBe("invalid_message");
    expect(() => parseMessage({ id: "x".repeat(11), type: TYPE, body: {} }, { maxHeaderLength: 10 })).toThrow(/id exceeds 10/);
    expect(() => parseMessage({ id: "1", type: TYPE, body: {}, to: ["did:example:a", "did:example:b"] }, { maxListEntries: 1 })).toThrow(/to exceeds 1/);
    const wide: Record<string, unknown> = { id: "1", type: TYPE, body: {} };
    for (let i = 0; i < 10; i++) wide[`h${i}`] = i;
    expect(() => parseMessage(wide, { maxHeaders: 12 })).toThrow(/more than 12 headers/);
    expect(() => parseMessage(wide, { maxHeaders: 13 })).not.toThrow();
    // The default attachment limit applies without options.
    const tooMany = { id: "1", type: TYPE, body: {}, attachments: Array.from({ length: 1001 }, () => ({ data: { json: {} } })) };
    expect(() => parseMessage(tooMany)).toThrow(/attachments exceed 1000/);
  });

  test("expires_time is checked only when a clock is given", () => {
    const m = { id: "1", type: TYPE, body: {}, expires_time: 1000 };
    expect(() => parseMessage(m)).not.toThrow();
    expect(() => parseMessage(m, { now: () => 1_000_000 })).not.toThrow(); // exactly at expiry: still valid
    expect(codeOf(() => parseMessage(m, { now: () => 1_000_001 }))).toBe("expired");
    expect(() => parseMessage(m, { now: () => 999_000 })).not.toThrow();
  });
});

describe("newMessage", () => {
  test("fills id, body, created_time and validates", () => {
    const m = newMessage({ type: TYPE, to: ["did:example:bob"], thid: undefined }, { now: () => 5_500 });
    expect(m.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.body).toEqual({});
    expect(m.created_time).toBe(5);
    expect("thid" in m).toBe(false);
    expect(codeOf(() => newMessage({ type: TYPE, from: "not-a-did" }))).toBe("invalid_message");
  });
});

describe("DID syntax", () => {
  test("isDid / isDidUrl", () => {
    expect(isDid("did:example:alice")).toBe(true);
    expect(isDid("did:web:example.com%3A8443:user:alice")).toBe(true);
    expect(isDid("did:example:alice#k")).toBe(false);
    expect(isDid("did:example:")).toBe(false);
    expect(isDid("did:Example:alice")).toBe(false);
    expect(isDid("did:example:al ice")).toBe(false);
    expect(isDidUrl("did:example:alice#key-1")).toBe(true);
    expect(isDidUrl("did:example:alice/path?q=1#f")).toBe(true);
    expect(isDidUrl("did:example:alice#a b")).toBe(false);
    expect(isDidUrl("https://example.org")).toBe(false);
  });
});

describe("forward messages", () => {
  const jwe = { protected: "e30", recipients: [], iv: "", ciphertext: "", tag: "" };

  test("buildForward / parseForward round trip through JSON and parseMessage", () => {
    const fwd = buildForward("did:example:bob", jwe, { expiresTime: 99 });
    expect(fwd.type).toBe(FORWARD_TYPE);
    const back = parseMessage(JSON.parse(JSON.stringify(fwd)));
    expect(back.expires_time).toBe(99);
    expect(parseForward(back)).toEqual({ next: "did:example:bob", forwarded: jwe });
  });

  test("accepts a DID URL next and a base64 attachment", () => {
    const m: Message = {
      id: "1",
      type: FORWARD_TYPE,
      body: { next: "did:example:mediator#key-1" },
      attachments: [{ data: { base64: Buffer.from(JSON.stringify(jwe)).toString("base64url") } }],
    };
    expect(parseForward(parseMessage(m))).toEqual({ next: "did:example:mediator#key-1", forwarded: jwe });
  });

  const base = (): Message => ({ id: "1", type: FORWARD_TYPE, body: { next: "did:example:bob" }, attachments: [{ data: { json: jwe } }] });
  const bad: [string, (m: Message) => void, RegExp][] = [
    ["another type", (m) => (m.type = TYPE), /not a routing 2.0 forward/],
    ["missing next", (m) => (m.body = {}), /body.next/],
    ["non-DID next", (m) => (m.body = { next: "https://bob" }), /body.next/],
    ["no attachment", (m) => delete m.attachments, /exactly one attachment/],
    ["two attachments", (m) => m.attachments!.push({ data: { json: jwe } }), /exactly one attachment/],
    ["json not an object", (m) => (m.attachments = [{ data: { json: "x" } }]), /data.json must be a JSON object/],
    ["base64 not JSON", (m) => (m.attachments = [{ data: { base64: "bm9wZQ" } }]), /data.base64 is not a JSON object/],
    ["links only", (m) => (m.attachments = [{ data: { links: ["https://x"], hash: "h" } }]), /must carry data.json or data.base64/],
  ];
  for (const [name, mutate, pattern] of bad) {
    test(`parseForward rejects ${name}`, () => {
      const m = base();
      mutate(m);
      expect(codeOf(() => parseForward(m))).toBe("invalid_message");
      expect(() => parseForward(m)).toThrow(pattern);
    });
  }

  test("buildForward rejects a bad next or envelope", () => {
    expect(codeOf(() => buildForward("bob", jwe))).toBe("invalid_message");
    expect(codeOf(() => buildForward("did:example:bob", [] as unknown as object))).toBe("invalid_message");
  });
});
