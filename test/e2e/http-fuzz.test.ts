// Seeded HTTP fuzz against a running node: bad input gets a 4xx (or 200/202 if still valid), never a 5xx; stored messages survive.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Agent, ENCRYPTED } from "../support/agent.ts";
import { startNodeProcess, type NodeProcess } from "../support/node-process.ts";
import { Rng, seedFromEnv } from "../support/random.ts";
import { contentOf, deliver, enrol, packVia, type Recipient } from "./helpers.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 400);
const MAX_MESSAGE_BYTES = 64 * 1024;
const STORED_BEFORE = 5;
const CONCURRENCY = 4;
const FRESH_FORWARDS = 10;

let node: NodeProcess;
beforeAll(async () => {
  node = await startNodeProcess({ env: { RATE_LIMIT_PER_CONNECTION: "100000", MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) } });
}, 30_000);
afterAll(async () => {
  await node?.stop();
});

interface Case {
  kind: string;
  body: Uint8Array | string;
  headers: Record<string, string>;
  /** A case that may legitimately still be accepted (a mutation that kept the envelope valid). */
  mayBeValid: boolean;
}

const CONTENT_TYPES = [
  ENCRYPTED,
  "application/didcomm-signed+json",
  "application/didcomm-plain+json",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/didcomm-encrypted+json; charset=utf-8",
  "APPLICATION/DIDCOMM-ENCRYPTED+JSON",
  "application/" + "x".repeat(300),
  "",
];
const JWE_FIELDS = ["protected", "recipients", "iv", "ciphertext", "tag", "unprotected", "aad"];

function randomText(rng: Rng, n: number): string {
  const alphabet = 'abcXYZ019{}[]":,\\ \n\t-_=+/.\u00e9\u2603';
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function randomJson(rng: Rng, depth: number): unknown {
  const k = rng.int(depth > 6 ? 4 : 7);
  if (k === 0) return rng.int(1 << 30) * (rng.bool() ? 1 : -1);
  if (k === 1) return randomText(rng, rng.int(40));
  if (k === 2) return rng.bool() ? null : rng.bool();
  if (k === 3) return 1e308 * (rng.bool() ? 10 : 1);
  if (k === 4) return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = rng.int(5); i > 0; i--) o[rng.bool(0.6) ? rng.pick(JWE_FIELDS) : randomText(rng, 8)] = randomJson(rng, depth + 1);
  return o;
}

/** A structural or byte-level mutation of a valid envelope. */
function mutate(rng: Rng, packed: string): { body: string; mayBeValid: boolean; how: string } {
  const jwe = JSON.parse(packed) as Record<string, unknown>;
  switch (rng.int(7)) {
    case 0: {
      const i = rng.int(packed.length);
      return { body: packed.slice(0, i) + String.fromCharCode(32 + rng.int(95)) + packed.slice(i + 1), mayBeValid: true, how: "byte" };
    }
    case 1:
      delete jwe[rng.pick(JWE_FIELDS)];
      return { body: JSON.stringify(jwe), mayBeValid: true, how: "delete-field" }; // deleting an absent optional field changes nothing
    case 2:
      const field = rng.pick(JWE_FIELDS);
      jwe[field] = randomJson(rng, 3);
      // A shared unprotected header is not used by DIDComm and is ignored; anything else breaks the envelope.
      return { body: JSON.stringify(jwe), mayBeValid: field === "unprotected", how: `set-${field}` };
    case 3: {
      const recipients = jwe.recipients as { header: Record<string, unknown> }[];
      const r = recipients[0]!;
      const field = rng.pick(["kid", "alg", "epk", "x"]);
      r.header[field] = rng.bool() ? randomText(rng, 20) : randomJson(rng, 4);
      // Only the kid matters in a per-recipient header (alg and epk are protected): other fields are ignored.
      return { body: JSON.stringify(jwe), mayBeValid: field !== "kid", how: `recipient-${field}` };
    }
    case 4: {
      const prot = JSON.parse(Buffer.from(jwe.protected as string, "base64url").toString("utf8")) as Record<string, unknown>;
      const field = rng.pick(["alg", "enc", "epk", "apv", "apu", "skid", "typ"]);
      prot[field] = randomJson(rng, 4);
      jwe.protected = Buffer.from(JSON.stringify(prot)).toString("base64url");
      return { body: JSON.stringify(jwe), mayBeValid: false, how: `protected-${field}` };
    }
    case 5:
      jwe.recipients = Array.from({ length: 1 + rng.int(300) }, () => (jwe.recipients as unknown[])[0]);
      return { body: JSON.stringify(jwe), mayBeValid: true, how: "many-recipients" };
    default:
      return { body: packed.slice(0, rng.int(packed.length)), mayBeValid: false, how: "truncated" }; // truncated JWE
  }
}

function makeCase(rng: Rng, valid: string[]): Case {
  const ct = { "content-type": ENCRYPTED };
  switch (rng.int(8)) {
    case 0:
      return { kind: "garbage", body: rng.bytes(rng.int(4096)), headers: ct, mayBeValid: false };
    case 1:
      return { kind: "non-json", body: randomText(rng, rng.int(2000)), headers: ct, mayBeValid: false };
    case 2:
      return { kind: "random-json", body: JSON.stringify(randomJson(rng, 0)), headers: ct, mayBeValid: false };
    case 3: {
      const type = rng.pick(CONTENT_TYPES);
      const headers: Record<string, string> = type === "" ? {} : { "content-type": type };
      return { kind: "content-type", body: rng.pick(valid), headers, mayBeValid: true };
    }
    case 4: {
      const headers: Record<string, string> = { ...ct, [`x-fuzz-${rng.int(1000)}`]: "v".repeat(1024 * (1 + rng.int(64))) };
      return { kind: "huge-header", body: rng.pick(valid), headers, mayBeValid: true };
    }
    case 5:
      return { kind: "oversized", body: "{" + " ".repeat(MAX_MESSAGE_BYTES + rng.int(MAX_MESSAGE_BYTES)) + "}", headers: ct, mayBeValid: false };
    default: {
      const m = mutate(rng, rng.pick(valid));
      return { kind: `mutated-${m.how}`, body: m.body, headers: ct, mayBeValid: m.mayBeValid };
    }
  }
}

test(
  "seeded HTTP fuzz: never a 5xx, the node stays up, stored messages survive",
  async () => {
    const seed = seedFromEnv();
    console.log(`http-fuzz SEED=${seed} (replay with SEED=${seed})`);
    const rng = new Rng(seed);

    const r: Recipient = await enrol(node);
    const sender = new Agent();
    const before: string[] = [];
    const valid: string[] = [];
    for (let i = 0; i < STORED_BEFORE; i++) {
      const { packed } = await packVia(sender, r.inbox.did, `before-${i}`);
      expect((await sender.post(node.url, packed)).status).toBe(202);
      before.push(`before-${i}`);
      valid.push(packed);
    }
    // Authcrypt requests to the mediator are fuzzed too (their failures can be answered with problem reports).
    valid.push(await r.control.pack(r.control.message("https://didcomm.org/messagepickup/3.0/status-request", {}, node.did), node.did));

    // A 200 is only right when it is a packed reply to the enrolled client (a status, or a problem report).
    const isReplyForControl = async (body: string): Promise<boolean> => {
      try {
        const type = (await r.control.unpack(body)).message.type;
        return type === "https://didcomm.org/messagepickup/3.0/status" || type === "https://didcomm.org/report-problem/2.0/problem-report";
      } catch {
        return false;
      }
    };

    const cases = Array.from({ length: CASES }, () => makeCase(rng, valid));
    // Fresh, valid forwards mixed in: each must still be taken (202) in the middle of the noise.
    const fresh: string[] = [];
    for (let i = 0; i < FRESH_FORWARDS; i++) {
      const content = `fresh-${i}`;
      fresh.push(content);
      const at = rng.int(cases.length + 1);
      cases.splice(at, 0, { kind: "fresh", body: (await packVia(sender, r.inbox.did, content)).packed, headers: { "content-type": ENCRYPTED }, mayBeValid: true });
    }
    const failures: string[] = [];
    const tally = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i]!;
        let status: number;
        let text = "";
        try {
          const res = await fetch(node.url, { method: "POST", headers: c.headers, body: c.body, signal: AbortSignal.timeout(10_000) });
          status = res.status;
          text = await res.text();
        } catch (e) {
          // Only an oversized request may be cut off by the server before it answers.
          if (c.kind === "oversized" || c.kind === "huge-header") status = 0;
          else {
            failures.push(`case ${i} (${c.kind}): request failed: ${String(e)}`);
            continue;
          }
        }
        tally.set(`${c.kind}:${status}`, (tally.get(`${c.kind}:${status}`) ?? 0) + 1);
        if (c.kind === "fresh" && status !== 202) failures.push(`case ${i} (fresh forward): HTTP ${status}`);
        if (status === 200 && !(await isReplyForControl(text))) failures.push(`case ${i} (${c.kind}): 200 without a readable reply`);
        const ok = (status >= 400 && status < 500) || (c.mayBeValid && (status === 200 || status === 202)) || status === 0;
        if (!ok) failures.push(`case ${i} (${c.kind}): HTTP ${status}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(`http-fuzz outcomes: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);
    expect(failures).toEqual([]);

    expect(node.alive()).toBe(true);
    expect((await fetch(`${node.url}/health/live`)).status).toBe(200);
    const after = (await deliver(node, r, 1000)).map(contentOf);
    for (const b of [...before, ...fresh]) expect(after).toContain(b);
    expect(new Set(after).size).toBe(after.length); // nothing stored twice
  },
  60_000,
);
