// Teardown runs last-registered first, once, and a failing step neither stops the rest nor escapes.
import { describe, expect, test } from "bun:test";
import { CleanupStack } from "../../src/node/cleanup-stack.ts";

describe("CleanupStack", () => {
  test("runs steps in reverse, reports failures, continues, and runs each step once", async () => {
    const ran: string[] = [];
    const errors: unknown[] = [];
    const c = new CleanupStack((e) => errors.push(e));
    c.push(() => void ran.push("first"));
    c.push(() => {
      ran.push("broken");
      throw new Error("close failed");
    });
    c.push(async () => void ran.push("last"));
    await c.run();
    expect(ran).toEqual(["last", "broken", "first"]);
    expect(errors.length).toBe(1);
    await c.run();
    expect(ran.length).toBe(3);
  });
});
