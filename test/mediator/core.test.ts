// MediatorCore generic paths: trust ping, discover features, problem reports, replay, bad envelopes, routing of replies.
import { afterEach, describe, expect, test } from "bun:test";
import { TYPES } from "../../src/protocols/index.ts";
import { StorageError } from "../../src/storage/index.ts";
import { DRIVERS, FakeSession, World } from "./harness.ts";

for (const driver of DRIVERS) {
  describe(`mediator core (${driver})`, () => {
    let w: World;
    afterEach(async () => w.close());

    test("trust ping: ping-response in the ping's thread; none when response_requested is false", async () => {
      w = new World({ driver });
      const a = w.agent();
      const ping = w.message(a, TYPES.ping, { response_requested: true });
      const { replies } = await w.ask(a, ping);
      expect(replies).toHaveLength(1);
      expect(replies[0]).toMatchObject({ type: TYPES.pingResponse, thid: ping.id, from: w.mediatorDid, to: [a.did] });
      expect(await w.ask(a, w.message(a, TYPES.ping, { response_requested: false }))).toEqual({ outcome: { kind: "accepted", replies: [] }, replies: [] });
      // A thread reply keeps the original thid.
      const inThread = w.message(a, TYPES.ping, {}, { thid: "thread-7" });
      expect((await w.ask(a, inThread)).replies[0]?.thid).toBe("thread-7");
    });

    test("discover features discloses the protocols with roles, wildcards included", async () => {
      w = new World({ driver });
      const a = w.agent();
      const q = w.message(a, TYPES.queries, { queries: [{ "feature-type": "protocol", match: "https://didcomm.org/messagepickup/3.*" }, { "feature-type": "goal-code", match: "*" }] });
      const { replies } = await w.ask(a, q);
      expect(replies[0]).toMatchObject({ type: TYPES.disclose, thid: q.id });
      expect(replies[0]!.body.disclosures).toEqual([{ "feature-type": "protocol", id: "https://didcomm.org/messagepickup/3.0", roles: ["mediator"] }]);
      const all = await w.ask(a, w.message(a, TYPES.queries, { queries: [{ "feature-type": "protocol", match: "*" }] }));
      const ids = (all.replies[0]!.body.disclosures as { id: string }[]).map((d) => d.id).sort();
      expect(ids).toEqual([
        "https://didcomm.org/coordinate-mediation/2.0",
        "https://didcomm.org/discover-features/2.0",
        "https://didcomm.org/messagepickup/3.0",
        "https://didcomm.org/report-problem/2.0",
        "https://didcomm.org/routing/2.0",
        "https://didcomm.org/trust-ping/2.0",
        "https://haven.dev/webhooks/1.0",
      ]);
      const bad = await w.ask(a, w.message(a, TYPES.queries, { queries: "all" }));
      expect(bad.replies[0]?.body.code).toBe("e.p.msg.invalid");
    });

    test("unknown protocol and unsupported version get problem reports naming what is supported", async () => {
      w = new World({ driver });
      const a = w.agent();
      const unknown = w.message(a, "https://example.org/nope/1.0/hello");
      const r1 = (await w.ask(a, unknown)).replies[0]!;
      expect(r1).toMatchObject({ type: TYPES.problemReport, pthid: unknown.id, body: { code: "e.p.msg.unsupported", args: [unknown.type] } });
      const old = w.message(a, "https://didcomm.org/messagepickup/2.0/status-request", {}, { thid: "t-1" });
      const r2 = (await w.ask(a, old)).replies[0]!;
      expect(r2).toMatchObject({ pthid: "t-1", body: { code: "e.p.msg.unsupported.version", args: ["https://didcomm.org/messagepickup", "3.0"] } });
      // A newer minor version of a supported protocol is served (semver).
      expect((await w.ask(a, w.message(a, "https://didcomm.org/trust-ping/2.1/ping"))).replies[0]?.type).toBe(TYPES.pingResponse);
      // Unknown message name in a known protocol.
      expect((await w.ask(a, w.message(a, `${"https://didcomm.org/trust-ping/2.0"}/pong`))).replies[0]?.body.code).toBe("e.p.msg.unsupported");
    });

    test("a received problem report is dropped: accepted, no reply, and its content is not logged", async () => {
      w = new World({ driver });
      const a = w.agent();
      const report = w.message(a, TYPES.problemReport, { code: "e.p.xfer.secret-code-xyz", comment: "sensitive-comment-abc" }, { pthid: "p-1" });
      expect((await w.send(a, report)).kind).toBe("accepted");
      expect(w.logLines.join("\n")).toContain("problem report received");
      expect(w.logLines.join("\n")).not.toContain("sensitive-comment-abc");
      expect(w.logLines.join("\n")).not.toContain("secret-code-xyz");
    });

    test("replay: the same message id from the same sender gets e.m.msg.replay", async () => {
      w = new World({ driver });
      const a = w.agent();
      const ping = w.message(a, TYPES.ping);
      ping.return_route = "all";
      const packed = await w.pack(a, ping);
      expect((await w.open(a, (await w.receive(packed)).replies))[0]?.type).toBe(TYPES.pingResponse);
      const again = await w.open(a, (await w.receive(packed)).replies);
      expect(again[0]).toMatchObject({ type: TYPES.problemReport, pthid: ping.id, body: { code: "e.m.msg.replay" } });
      // Another sender may reuse the id.
      const b = w.agent();
      const other = w.message(b, TYPES.ping, {}, { id: ping.id });
      expect((await w.ask(b, other)).replies[0]?.type).toBe(TYPES.pingResponse);
    });

    test("expired messages get e.p.req.time", async () => {
      w = new World({ driver });
      const a = w.agent();
      const ping = w.message(a, TYPES.ping, {}, { expires_time: Math.floor(w.clock.nowMs() / 1000) - 10 });
      expect((await w.ask(a, ping)).replies[0]?.body.code).toBe("e.p.req.time");
    });

    test("a message created before the replay window is refused (its id may have been forgotten); inside it is answered", async () => {
      w = new World({ driver });
      const a = w.agent();
      const windowS = w.config.limits.replayWindowSeconds;
      const nowS = Math.floor(w.clock.nowMs() / 1000);
      const old = w.message(a, TYPES.ping, {}, { created_time: nowS - windowS - 5 });
      const reply = (await w.ask(a, old)).replies[0];
      expect(reply?.body.code).toBe("e.p.req.time");
      expect(reply?.body.comment).toContain("replay window");
      const recent = w.message(a, TYPES.ping, {}, { created_time: nowS - windowS + 5 });
      expect((await w.ask(a, recent)).replies[0]?.type).toBe(TYPES.pingResponse);
    });

    test("garbage, non-JSON, truncated and oversized envelopes are rejected 4xx, never thrown", async () => {
      w = new World({ driver, limits: { maxMessageBytes: 64 * 1024 } });
      const a = w.agent();
      const packed = await w.pack(a, w.message(a, TYPES.ping));
      const cases: [string | Uint8Array, number][] = [
        [new Uint8Array([0xff, 0xfe, 0x00, 0x01]), 400],
        ["not json at all", 400],
        ["[]", 400],
        ["{}", 400],
        [packed.slice(0, packed.length / 2), 400],
        [JSON.stringify({ protected: "!!", recipients: [], ciphertext: "x", iv: "y", tag: "z" }), 400],
        ["x".repeat(64 * 1024 + 1), 413],
      ];
      for (const [bytes, status] of cases) {
        const outcome = await w.receive(bytes);
        expect(outcome).toMatchObject({ kind: "rejected", httpStatus: status });
      }
    });

    test("a tampered authcrypt envelope is rejected, with a problem report the claimed sender can read", async () => {
      w = new World({ driver });
      const a = w.agent();
      const env = JSON.parse(await w.pack(a, w.message(a, TYPES.ping))) as Record<string, string>;
      const c = env.ciphertext!;
      env.ciphertext = (c[0] === "A" ? "B" : "A") + c.slice(1);
      const outcome = await w.receive(JSON.stringify(env));
      expect(outcome).toMatchObject({ kind: "rejected", httpStatus: 400, code: "crypto_failed" });
      const [report] = await w.open(a, outcome.replies);
      expect(report).toMatchObject({ type: TYPES.problemReport, body: { code: "e.p.trust.crypto" } });
    });

    test("without return_route, replies to an authenticated sender are POSTed to its endpoint", async () => {
      w = new World({ driver });
      const a = w.agent({ uri: "http://agent.test/inbox", accept: ["didcomm/v2"] });
      const ping = w.message(a, TYPES.ping);
      expect(await w.send(a, ping, { returnRoute: null })).toEqual({ kind: "accepted", replies: [] });
      await w.core.flushOutbound();
      expect(w.posted.map((p) => p.uri)).toEqual(["http://agent.test/inbox"]);
      expect((await w.open(a, [w.posted[0]!.packed]))[0]).toMatchObject({ type: TYPES.pingResponse, thid: ping.id });
      // An anoncrypt claim of the same from is never POSTed to (no reflection).
      await w.send(a, w.message(a, TYPES.ping), { returnRoute: null, auth: "anoncrypt" });
      await w.core.flushOutbound();
      expect(w.posted).toHaveLength(1);
    });

    test("on WS, return_route set once holds for the session", async () => {
      w = new World({ driver });
      const a = w.agent();
      const session = new FakeSession("ws-rr");
      expect((await w.send(a, w.message(a, TYPES.ping), { kind: "ws", session, returnRoute: "all" })).replies).toHaveLength(1);
      expect((await w.send(a, w.message(a, TYPES.ping), { kind: "ws", session, returnRoute: null })).replies).toHaveLength(1);
      session.close();
      expect((await w.send(a, w.message(a, TYPES.ping), { kind: "ws", session, returnRoute: null })).replies).toHaveLength(0);
    });

    test("a storage failure becomes an e.p.me.res.storage problem report, never a throw", async () => {
      w = new World({ driver });
      const a = w.agent();
      const broken = w.storage.replay.checkAndRecord.bind(w.storage.replay);
      w.storage.replay.checkAndRecord = async () => {
        throw new StorageError("unavailable", "disk on fire");
      };
      const { replies } = await w.ask(a, w.message(a, TYPES.ping));
      expect(replies[0]?.body.code).toBe("e.p.me.res.storage");
      w.storage.replay.checkAndRecord = broken;
      expect(w.logLines.join("\n")).not.toContain("disk on fire");
    });
  });
}
