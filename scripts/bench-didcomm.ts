// DIDComm benchmark (not a test): Haven vs didcomm-node pack/unpack ops/s, sequential in one process; ends with one JSON line.
// Usage: bun run bench:didcomm [--rounds 5] [--round-seconds 0.5] [--warmup 0.5] [--min-ops 100] [--only <case id substring>]
// Each case runs Haven and didcomm-node in alternating timed rounds and reports each one's median round.
import { Message as NodeMessage } from "didcomm-node";
import type { ContentEnc } from "../src/didcomm/crypto/content.ts";
import type { DidResolver } from "../src/didcomm/did/types.ts";
import type { Message } from "../src/didcomm/message/types.ts";
import { packEncrypted, unpack, unpackForward } from "../src/didcomm/pack/index.ts";
import type { DidcommContext } from "../src/didcomm/pack/types.ts";
import type { KeyRef, PrivateJwk } from "../src/didcomm/keys/jwk.ts";
import { NODE_ANON_ALG, toNodeDidDoc, toNodeSecret, type NodeDidDoc, type NodeSecret } from "../test/support/didcomm-node.ts";
import { DocResolver, KeySecrets, makeParty, type Party } from "../test/support/world.ts";
import { argValue, compare, fmtInt, numberArg, table, type CompareOptions, type Summary } from "./lib/bench.ts";

const MESSAGE_BYTES = 1024;
const opts: CompareOptions = {
  rounds: numberArg("rounds", 5, 1, 101),
  roundMs: numberArg("round-seconds", 0.5, 0.01, 60) * 1000,
  warmupMs: numberArg("warmup", 0.5, 0, 60) * 1000,
  minOpsPerRound: numberArg("min-ops", 100, 1, 1e7),
};
const only = argValue("only", "");

// --- parties: alice sends to bob, whose DIDCommMessaging service routes through the mediator's key.
const mediator = makeParty("mediator");
const alice = makeParty("alice");
const bob = makeParty("bob", { service: { uri: "https://mediator.example/didcomm", routingKeys: [mediator.agreement[0]!] } });
const resolver: DidResolver = new DocResolver([mediator.doc, alice.doc, bob.doc]);
const havenCtx = (p: Party): DidcommContext => ({ resolver, secrets: new KeySecrets(p.keys) });

// didcomm-node adapters with documents and secrets converted once up front, so the figures do not
// include our harness's per-call conversion (that would understate didcomm-node).
const nodeDocs = new Map<string, NodeDidDoc>([mediator, alice, bob].map((p) => [p.did, toNodeDidDoc(p.doc)]));
const nodeResolver = { resolve: async (did: string) => nodeDocs.get(did) ?? null };
function nodeSecrets(keys: KeyRef<PrivateJwk>[]) {
  const byKid = new Map<string, NodeSecret>(keys.map((k) => [k.kid, toNodeSecret(k)]));
  return {
    get_secret: async (id: string) => byKid.get(id) ?? null,
    find_secrets: async (ids: string[]) => ids.filter((id) => byKid.has(id)),
  };
}
const nodeSecretsOf = new Map([mediator, alice, bob].map((p) => [p.did, nodeSecrets(p.keys)]));
const nodeSecretsFor = (p: Party) => nodeSecretsOf.get(p.did)!;

/** A basic message whose plaintext JSON is exactly MESSAGE_BYTES bytes (ASCII padding in the body). */
function message(from?: string): Message {
  const msg: Message = {
    id: "bench-0001",
    type: "https://didcomm.org/basicmessage/2.0/message",
    to: [bob.did],
    created_time: 1_700_000_000,
    body: { content: "" },
  };
  if (from !== undefined) msg.from = from;
  const pad = MESSAGE_BYTES - JSON.stringify(msg).length;
  if (pad < 0) throw new Error("bench message skeleton exceeds MESSAGE_BYTES");
  msg.body = { content: "x".repeat(pad) };
  return msg;
}

async function nodePack(msg: Message, from: Party | undefined, enc: ContentEnc): Promise<string> {
  const m = new NodeMessage({ typ: "application/didcomm-plain+json", ...msg } as never);
  try {
    const options = { forward: false, protect_sender: false, enc_alg_anon: NODE_ANON_ALG[enc] };
    const [packed] = await m.pack_encrypted(bob.did, from?.did ?? null, null, nodeResolver as never, nodeSecretsFor(from ?? alice) as never, options as never);
    return packed;
  } finally {
    m.free();
  }
}

/** didcomm-node unpack; `read` returns the plain message (as_value) for checks, never inside timed loops. */
async function nodeUnpack(packed: string, as: Party, read = false): Promise<unknown> {
  const [m] = await NodeMessage.unpack(packed, nodeResolver as never, nodeSecretsFor(as) as never, {
    unwrap_re_wrapping_forward: false,
  });
  try {
    return read ? m.as_value() : undefined;
  } finally {
    m.free();
  }
}

interface Case {
  id: string;
  label: string;
  haven: () => Promise<unknown>;
  node: () => Promise<unknown>;
}

async function buildCases(): Promise<Case[]> {
  const anonMsg = message();
  const authMsg = message(alice.did);
  const aliceCtx = havenCtx(alice);
  const bobCtx = havenCtx(bob);
  const mediatorCtx = havenCtx(mediator);
  const cases: Case[] = [];

  for (const enc of ["A256CBC-HS512", "XC20P"] as const) {
    const packed = (await packEncrypted(anonMsg, bob.did, aliceCtx, { enc, forward: false })).packed;
    await checkUnpacks(packed, bob, anonMsg.id, `anoncrypt ${enc}`);
    const tag = enc === "XC20P" ? "xc20p" : "a256cbc";
    cases.push({
      id: `anoncrypt-x25519-${tag}-unpack`,
      label: `unpack anoncrypt X25519 ${enc}`,
      haven: () => unpack(packed, bobCtx),
      node: () => nodeUnpack(packed, bob),
    });
    cases.push({
      id: `anoncrypt-x25519-${tag}-pack`,
      label: `pack anoncrypt X25519 ${enc}`,
      haven: () => packEncrypted(anonMsg, bob.did, aliceCtx, { enc, forward: false }),
      node: () => nodePack(anonMsg, undefined, enc),
    });
  }

  const authPacked = (await packEncrypted(authMsg, bob.did, aliceCtx, { from: alice.did, forward: false })).packed;
  await checkUnpacks(authPacked, bob, authMsg.id, "authcrypt");
  cases.push({
    id: "authcrypt-x25519-a256cbc-unpack",
    label: "unpack authcrypt X25519 A256CBC-HS512",
    haven: () => unpack(authPacked, bobCtx),
    node: () => nodeUnpack(authPacked, bob),
  });
  cases.push({
    id: "authcrypt-x25519-a256cbc-pack",
    label: "pack authcrypt X25519 A256CBC-HS512",
    haven: () => packEncrypted(authMsg, bob.did, aliceCtx, { from: alice.did, forward: false }),
    node: () => nodePack(authMsg, alice, "A256CBC-HS512"),
  });

  // The mediator's hot path: anoncrypt(XC20P) forward to the mediator around an anoncrypt(XC20P) message for bob.
  const routed = await packEncrypted(anonMsg, bob.did, aliceCtx, { enc: "XC20P" });
  if (routed.service?.routingKeys[0] !== mediator.agreement[0]) throw new Error("bench: message was not routed via the mediator");
  const fwd = routed.packed;
  const havenFwd = await unpackForward(fwd, mediatorCtx);
  if (havenFwd.next !== bob.did) throw new Error("bench: Haven forward next mismatch");
  const nodeFwd = (await nodeUnpack(fwd, mediator, true)) as { type?: string; body?: { next?: string } };
  if (nodeFwd.body?.next !== bob.did) throw new Error("bench: didcomm-node forward next mismatch");
  cases.push({
    id: "forward-x25519-xc20p-unpack",
    label: "unpack forward (anoncrypt X25519 XC20P)",
    haven: () => unpackForward(fwd, mediatorCtx),
    node: () => nodeUnpack(fwd, mediator),
  });
  return cases;
}

/** Both implementations must open the envelope to the same message before it is timed. */
async function checkUnpacks(packed: string, as: Party, id: string, what: string): Promise<void> {
  const haven = await unpack(packed, havenCtx(as));
  const node = (await nodeUnpack(packed, as, true)) as { id?: string };
  if (haven.message.id !== id || node.id !== id) throw new Error(`bench: ${what} did not round-trip in both implementations`);
}

const cases = (await buildCases()).filter((c) => c.id.includes(only));
if (cases.length === 0) throw new Error(`no case id contains "${only}"`);
const results: { c: Case; haven: Summary; node: Summary }[] = [];
const spread = (s: Summary) => `${fmtInt(s.median)}/s (rounds ${fmtInt(s.min)}..${fmtInt(s.max)}, ${s.totalOps} ops)`;
for (const c of cases) {
  const [haven, node] = await compare(c.haven, c.node, opts);
  results.push({ c, haven, node });
  console.error(`  ${c.id}: haven ${spread(haven)}, didcomm-node ${spread(node)}`);
}

const ratio = (r: { haven: Summary; node: Summary }) => r.haven.median / r.node.median;
console.log(
  `\nDIDComm pack/unpack, ${MESSAGE_BYTES} B plaintext, one process, sequential; median of ${opts.rounds} alternating ` +
    `rounds of ${opts.roundMs / 1000} s (ops/s; higher is better)\n`,
);
console.log(
  table(
    ["case", "haven", "didcomm-node", "haven/didcomm-node"],
    results.map((r) => [r.c.label, fmtInt(r.haven.median), fmtInt(r.node.median), `${ratio(r).toFixed(1)}x`]),
  ),
);

const fwd = results.find((r) => r.c.id === "forward-x25519-xc20p-unpack");
const goal =
  fwd === undefined
    ? null
    : {
        forwardUnpackOpsPerSec: Math.round(fwd.haven.median),
        ratio: Number(ratio(fwd).toFixed(2)),
        met: fwd.haven.median >= 20_000 && ratio(fwd) >= 5,
      };
if (goal !== null) {
  console.log(`\ngoal (forward unpack >= 20,000/s and >= 5x didcomm-node): ${goal.met ? "met" : "NOT met"}`);
}
console.log(
  JSON.stringify({
    bench: "didcomm",
    messageBytes: MESSAGE_BYTES,
    rounds: opts.rounds,
    roundSeconds: opts.roundMs / 1000,
    bun: Bun.version,
    cases: Object.fromEntries(
      results.map((r) => [
        r.c.id,
        { haven: Math.round(r.haven.median), didcommNode: Math.round(r.node.median), ratio: Number(ratio(r).toFixed(2)) },
      ]),
    ),
    goal,
  }),
);
