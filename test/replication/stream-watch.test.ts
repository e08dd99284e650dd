// StreamWatch loss detection with a scripted JetStreamManager: last_seq rollback, recreation, PubAck regression.
import { describe, expect, test } from "bun:test";
import type { JetStreamManager, PubAck, StreamInfo } from "@nats-io/jetstream";
import { ManualClock } from "../../src/runtime/index.ts";
import { resolveStreamOptions } from "../../src/replication/stream.ts";
import { StreamWatch } from "../../src/replication/stream-watch.ts";

function fakeJsm(state: { created: string; lastSeq: number }): JetStreamManager {
  const info = async () => ({ created: state.created, state: { last_seq: state.lastSeq }, config: {} }) as unknown as StreamInfo;
  return { streams: { info } } as unknown as JetStreamManager;
}

function setup(highestAcked: number, storedCreated = "t1") {
  const state = { created: "t1", lastSeq: highestAcked };
  const losses: string[] = [];
  const watch = new StreamWatch({
    jsm: fakeJsm(state),
    clock: new ManualClock(),
    stream: resolveStreamOptions({ replicas: 1 }),
    intervalMs: 1000,
    storedCreated,
    highestAcked,
    onCreated: () => {},
    onLoss: async (reason) => {
      losses.push(reason);
    },
    log: undefined,
  });
  return { state, losses, watch };
}

const ack = (seq: number, duplicate = false): PubAck => ({ stream: "HAVEN_MAIL", seq, duplicate }) as PubAck;

describe("StreamWatch", () => {
  test("no loss while last_seq >= highest acknowledged and created unchanged", async () => {
    const { state, losses, watch } = setup(100);
    state.lastSeq = 150;
    await watch.check();
    expect(losses).toEqual([]);
  });

  test("last_seq below the highest acknowledged seq (un-fsynced tail lost) triggers a re-publish", async () => {
    const { state, losses, watch } = setup(100);
    state.lastSeq = 40;
    await watch.check();
    expect(losses.length).toBe(1);
    expect(watch.lossesDetected).toBe(1);
    await watch.check(); // baseline moved to 40: not detected again
    expect(losses.length).toBe(1);
  });

  test("a changed created timestamp triggers a re-publish", async () => {
    const { state, losses, watch } = setup(10);
    state.created = "t2";
    state.lastSeq = 10;
    await watch.check();
    expect(losses).toEqual(["stream recreated"]);
  });

  test("a fresh PubAck far below the highest acknowledged seq triggers; duplicates and in-flight slack do not", async () => {
    const { losses, watch } = setup(0);
    watch.observeAck(ack(1000), 0);
    watch.observeAck(ack(990, true), 0); // duplicate: the original seq, fine
    watch.observeAck(ack(995), 10); // within the in-flight tolerance
    expect(losses).toEqual([]);
    watch.observeAck(ack(3), 10);
    await Promise.resolve();
    expect(losses.length).toBe(1);
  });
});
