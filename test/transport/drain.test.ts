// HttpApp.beginDrain: readiness fails and responses retire their keep-alive connection, while requests are still served.
import { afterEach, describe, expect, test } from "bun:test";
import { startApp, type Started } from "./helpers.ts";

let s: Started | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("beginDrain", () => {
  test("readiness turns 503, POST is still accepted, and every response says connection: close", async () => {
    s = startApp();
    const before = await fetch(s.base + "/health/ready");
    expect(before.status).toBe(200);
    expect(before.headers.get("connection")).not.toBe("close");

    s.app.beginDrain();
    const ready = await fetch(s.base + "/health/ready");
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { name: string; status: string; detail: string }[] }).checks).toContainEqual({ name: "shutdown", status: "fail", detail: "the node is draining" });
    expect(ready.headers.get("connection")).toBe("close");

    const res = await fetch(s.base + "/", { method: "POST", body: "{}", headers: { "content-type": "application/didcomm-encrypted+json" } });
    expect(res.status).toBe(202);
    expect(res.headers.get("connection")).toBe("close");
    expect(s.core.calls).toHaveLength(1);
  });
});
