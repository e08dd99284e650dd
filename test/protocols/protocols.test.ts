// Handler-level pieces: type parsing, wildcard matching, the router's errors, dedup keys, status bodies.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/didcomm/message/types.ts";
import { createLogger } from "../../src/observability/index.ts";
import { ManualClock } from "../../src/runtime/index.ts";
import {
  dedupKeyOf,
  parseType,
  Problems,
  ProtocolError,
  ProtocolRouter,
  toProtocolError,
  wildcardMatches,
  type HandlerContext,
} from "../../src/protocols/index.ts";
import { statusBody } from "../../src/protocols/pickup-messages.ts";
import { StorageError } from "../../src/storage/index.ts";

function ctx(sender: HandlerContext["sender"] = { kind: "anonymous" }): HandlerContext {
  return {
    sender,
    replyTo: sender.kind === "anonymous" ? undefined : sender.did,
    mediatorDid: "did:example:mediator",
    transport: { kind: "http" },
    receivedAtMs: 0,
    services: { clock: new ManualClock(), logger: createLogger({ level: "silent" }) } as unknown as HandlerContext["services"],
  };
}

describe("protocol helpers", () => {
  test("parseType splits family, version and name; rejects other shapes", () => {
    expect(parseType("https://didcomm.org/messagepickup/3.0/status-request")).toEqual({ family: "https://didcomm.org/messagepickup", major: 3, minor: 0, name: "status-request" });
    expect(parseType("hello")).toBeUndefined();
    expect(parseType("https://didcomm.org/x/1/y")).toBeUndefined();
    expect(parseType(`https://didcomm.org/${"a".repeat(600)}/1.0/y`)).toBeUndefined();
  });

  test("wildcardMatches treats only * as special", () => {
    expect(wildcardMatches("*", "anything")).toBe(true);
    expect(wildcardMatches("https://didcomm.org/trust-ping/2.*", "https://didcomm.org/trust-ping/2.0")).toBe(true);
    expect(wildcardMatches("https://didcomm.org/trust-ping/1.*", "https://didcomm.org/trust-ping/2.0")).toBe(false);
    expect(wildcardMatches("https://didcomm.org/trust.ping/2.0", "https://didcomm.org/trust-ping/2.0")).toBe(false);
  });

  test("router: unknown family, unknown version, handler errors become reports with pthid; never throws", async () => {
    const router = new ProtocolRouter([
      {
        piuri: "https://example.org/demo/1.0",
        handlers: {
          ok: async () => [],
          bad: async () => {
            throw new Error("bug");
          },
        },
      },
    ]);
    const msg = (type: string, thid?: string): Message => ({ id: "m1", type, body: {}, ...(thid ? { thid } : {}) });
    const c = ctx({ kind: "authcrypt", did: "did:example:alice", kid: "did:example:alice#k" });
    expect(await router.dispatch(msg("https://example.org/demo/1.3/ok"), c)).toEqual({ replies: [] });
    const unknown = await router.dispatch(msg("https://example.org/other/1.0/ok"), c);
    expect(unknown.error?.problem).toBe(Problems.unsupportedProtocol);
    expect(unknown.replies[0]).toMatchObject({ pthid: "m1", to: ["did:example:alice"], from: "did:example:mediator" });
    const version = await router.dispatch(msg("https://example.org/demo/2.0/ok", "t9"), c);
    expect(version.error?.args).toEqual(["https://example.org/demo", "1.0"]);
    expect(version.replies[0]?.pthid).toBe("t9");
    const crash = await router.dispatch(msg("https://example.org/demo/1.0/bad"), c);
    expect(crash.error?.problem).toBe(Problems.internal);
  });

  test("toProtocolError maps storage trouble to 503 and bad arguments to invalid", () => {
    expect(toProtocolError(new StorageError("unavailable", "x")).problem.httpStatus).toBe(503);
    expect(toProtocolError(new StorageError("invalid_argument", "x")).problem).toBe(Problems.invalidMessage);
    const pe = new ProtocolError(Problems.replay);
    expect(toProtocolError(pe)).toBe(pe);
  });

  test("dedupKeyOf: sender+id when authenticated, else a hash of ciphertext, iv and tag", () => {
    const jwe = { ciphertext: "abc", iv: "def", tag: "ghi", protected: "p1" };
    const msg = { id: "f1", type: "t", body: {} } as Message;
    const anon = dedupKeyOf(msg, ctx(), jwe);
    expect(anon).toStartWith("sha256:");
    expect(dedupKeyOf({ ...msg, id: "f2" }, ctx(), { ...jwe, protected: "p2" })).toBe(anon);
    expect(dedupKeyOf(msg, ctx(), { ...jwe, ciphertext: "abcd", iv: "ef" })).not.toBe(anon);
    const alice = ctx({ kind: "authcrypt", did: "did:example:alice", kid: "did:example:alice#1" });
    expect(dedupKeyOf(msg, alice, jwe)).toBe(dedupKeyOf(msg, alice, { ...jwe, ciphertext: "zzz" }));
    expect(dedupKeyOf(msg, alice, jwe)).not.toBe(dedupKeyOf({ ...msg, id: "f2" }, alice, jwe));
  });

  test("statusBody uses epoch seconds and omits times for an empty mailbox", () => {
    expect(statusBody({ count: 0, totalBytes: 0, oldestReceivedAtMs: null, newestReceivedAtMs: null }, 10_000, false)).toEqual({ message_count: 0, total_bytes: 0, live_delivery: false });
    expect(statusBody({ count: 2, totalBytes: 9, oldestReceivedAtMs: 1_000, newestReceivedAtMs: 4_999 }, 11_500, true, "did:example:r")).toEqual({
      message_count: 2, total_bytes: 9, live_delivery: true, recipient_did: "did:example:r",
      longest_waited_seconds: 10, oldest_received_time: 1, newest_received_time: 4,
    });
  });
});

describe("toProtocolError: retryable errors", () => {
  test("an unknown error type that says retryable becomes a retryable 503-class problem, not internal", async () => {
    const { toProtocolError, Problems } = await import("../../src/protocols/errors.ts");
    const retryable = Object.assign(new Error("queue unreachable"), { retryable: true });
    expect(toProtocolError(retryable).problem).toBe(Problems.unavailable);
    expect(toProtocolError(retryable).retryable).toBe(true);
    expect(toProtocolError(new Error("boom")).problem).toBe(Problems.internal);
  });
});
