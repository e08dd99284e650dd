// src/cluster/rpc.ts against a real nats-server: round trips, typed remote errors, timeouts, no responders, bounds.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ClusterError, ClusterErrorCode } from "../../src/cluster/errors.ts";
import { rpcRequest, rpcServe } from "../../src/cluster/rpc.ts";
import { StorageError, StorageErrorCode } from "../../src/storage/errors.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";

let nats: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

async function rejection(p: Promise<unknown>): Promise<ClusterError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ClusterError);
    return e as ClusterError;
  }
  throw new Error("expected a rejection");
}

describe("rpc", () => {
  test("round trip with binary payloads", async () => {
    const server = rpcServe<{ a: number; bytes: Uint8Array }>(nc, "haven.test.echo", (req) => ({ sum: req.a + 1, bytes: req.bytes }));
    try {
      const r = await rpcRequest<{ sum: number; bytes: Uint8Array }>(nc, "haven.test.echo", { a: 41, bytes: new Uint8Array([1, 2, 3]) }, { timeoutMs: 2000 });
      expect(r.sum).toBe(42);
      expect([...r.bytes]).toEqual([1, 2, 3]);
    } finally {
      server.stop();
    }
  });

  test("a remote StorageError comes back as remote_error with its name, code and retryability", async () => {
    const server = rpcServe(nc, "haven.test.fail", () => {
      throw new StorageError(StorageErrorCode.Unavailable, "disk on fire");
    });
    try {
      const e = await rejection(rpcRequest(nc, "haven.test.fail", {}, { timeoutMs: 2000 }));
      expect(e.code).toBe(ClusterErrorCode.Remote);
      expect(e.remote).toEqual({ name: "StorageError", code: "unavailable", message: "disk on fire", retryable: true });
      expect(e.retryable).toBe(true);
    } finally {
      server.stop();
    }
  });

  test("a remote ClusterError keeps its code (not_owner)", async () => {
    const server = rpcServe(nc, "haven.test.notowner", () => {
      throw new ClusterError(ClusterErrorCode.NotOwner, "partition 3 not served here");
    });
    try {
      const e = await rejection(rpcRequest(nc, "haven.test.notowner", {}, { timeoutMs: 2000 }));
      expect(e.code).toBe(ClusterErrorCode.NotOwner);
      expect(e.retryable).toBe(true);
    } finally {
      server.stop();
    }
  });

  test("no responders and timeouts are retryable ClusterErrors", async () => {
    const none = await rejection(rpcRequest(nc, "haven.test.nobody", {}, { timeoutMs: 2000 }));
    expect(none.code).toBe(ClusterErrorCode.NoResponders);
    expect(none.retryable).toBe(true);

    const { promise: never } = Promise.withResolvers<void>();
    const server = rpcServe(nc, "haven.test.slow", () => never);
    try {
      const slow = await rejection(rpcRequest(nc, "haven.test.slow", {}, { timeoutMs: 100 }));
      expect(slow.code).toBe(ClusterErrorCode.Timeout);
      expect(server.inFlight).toBe(1);
    } finally {
      server.stop();
    }
  });

  test("requests above the size bound and non-msgpack bodies are refused as bad_message", async () => {
    const server = rpcServe(nc, "haven.test.bounded", () => "ok", { maxBytes: 64 });
    try {
      const big = await rejection(rpcRequest(nc, "haven.test.bounded", { s: "x".repeat(100) }, { timeoutMs: 2000 }));
      expect(big.code).toBe(ClusterErrorCode.BadMessage);
      const reply = await nc.request("haven.test.bounded", new Uint8Array([0xc1]), { timeout: 2000 }); // 0xc1: never used in msgpack
      expect(reply.data.byteLength).toBeGreaterThan(0);
      expect(await rpcRequest(nc, "haven.test.bounded", "small", { timeoutMs: 2000 })).toBe("ok");
    } finally {
      server.stop();
    }
  });

  test("a reply that is not an envelope is bad_message", async () => {
    const sub = nc.subscribe("haven.test.raw", { callback: (_e, m) => void m.respond(encode({ not: "an envelope" })) });
    try {
      const e = await rejection(rpcRequest(nc, "haven.test.raw", {}, { timeoutMs: 2000 }));
      expect(e.code).toBe(ClusterErrorCode.BadMessage);
    } finally {
      sub.unsubscribe();
    }
  });

  test("beyond maxInFlight the caller is told overloaded at once", async () => {
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    const server = rpcServe(nc, "haven.test.busy", () => gate.then(() => "done"), { maxInFlight: 1 });
    try {
      const first = rpcRequest<string>(nc, "haven.test.busy", {}, { timeoutMs: 5000 });
      // The first request must be in the handler before the second arrives: NATS delivers in order on one connection.
      const second = await rejection(rpcRequest(nc, "haven.test.busy", {}, { timeoutMs: 5000 }));
      expect(second.code).toBe(ClusterErrorCode.Overloaded);
      open();
      expect(await first).toBe("done");
    } finally {
      server.stop();
    }
  });
});
